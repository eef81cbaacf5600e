// One process-wide lock around every HDF5 call. Debian ships the library built as
// thread-safe, other builds (and HPC modules) often are not; the loader's prefetch
// thread and rank 0's checkpoint writer would otherwise race inside it.
// Not recursive: take it once per file operation, never inside a helper.
#pragma once
#include <mutex>

namespace elbo {

std::mutex& hdf5_mutex();

}  // namespace elbo
