// The CUDA build's answers to "is CUDA here?" (the CPU-only build's are in
// src/backend/cpu/backend_factory.cc).
#include <cuda_runtime_api.h>

#include <sstream>

#include "elbo/backend.h"
#include "elbo/error.h"

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

uint64_t cuda_device_uuid_digest(int index) {
  cudaDeviceProp prop{};
  const cudaError_t err = cudaGetDeviceProperties(&prop, index);
  if (err != cudaSuccess) {
    cudaGetLastError();
    ELBO_FAIL("cuda:" << index << ": " << cudaGetErrorString(err));
  }
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the 16 UUID bytes
  for (char byte : prop.uuid.bytes) {
    h ^= uint8_t(byte);
    h *= 1099511628211ull;
  }
  return h;
}

std::string cuda_device_description(int index) {
  cudaDeviceProp prop{};
  const cudaError_t err = cudaGetDeviceProperties(&prop, index);
  if (err != cudaSuccess) {
    cudaGetLastError();
    ELBO_FAIL("cuda:" << index << ": " << cudaGetErrorString(err));
  }
  std::ostringstream out;
  out.precision(1);
  out << prop.name << ", " << std::fixed << double(prop.totalGlobalMem) / double(1ull << 30)
      << " GiB, compute capability " << prop.major << "." << prop.minor;
  return out.str();
}

}  // namespace elbo
