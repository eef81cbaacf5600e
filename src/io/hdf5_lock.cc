#include "elbo/io/hdf5_lock.h"

namespace elbo {

std::mutex& hdf5_mutex() {
  static std::mutex m;  // function-local: initialised on first use, in any TU's static init
  return m;
}

}  // namespace elbo
