// The CUDA build's answers to "is CUDA here?" (the CPU-only build's are in
// src/backend/cpu/backend_factory.cc).
#include <cuda_runtime_api.h>

#include "elbo/backend.h"

namespace elbo {

bool cuda_backend_compiled() { return true; }

// 0 when there is no driver, no device, or the driver is too old for this runtime:
// callers treat all of these as "no GPU" (tests skip, make_backend explains).
int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

}  // namespace elbo
