// Chooses the backend for a device; the CUDA build provides make_cuda_backend,
// cuda_backend_compiled and cuda_device_count in src/backend/cuda/.
#include <atomic>

#include "elbo/backend.h"
#include "elbo/error.h"

namespace elbo {
namespace {
std::atomic<int> g_cpu_backend_threads{1};
}

void set_cpu_backend_threads(int threads) { g_cpu_backend_threads = threads < 1 ? 1 : threads; }
int cpu_backend_threads() { return g_cpu_backend_threads; }

std::unique_ptr<Backend> make_backend(const Device& device, GemmPrecision precision) {
  if (!device.is_cuda()) return make_cpu_backend(cpu_backend_threads(), precision);
#if defined(ELBO_WITH_CUDA)
  return make_cuda_backend(device.index, precision);
#else
  ELBO_FAIL("device " << device.str() << " requested, but this elbo was built without CUDA "
                      "(rebuild with nvcc available or -DELBO_CUDA=ON)");
#endif
}

#if !defined(ELBO_WITH_CUDA)
bool cuda_backend_compiled() { return false; }
int cuda_device_count() { return 0; }
std::string cuda_device_description(int index) {
  ELBO_FAIL("cuda:" << index << ": this elbo was built without CUDA");
}
uint64_t cuda_device_uuid_digest(int index) {
  ELBO_FAIL("cuda:" << index << ": this elbo was built without CUDA");
}
#endif

}  // namespace elbo
