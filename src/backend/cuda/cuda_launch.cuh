// Launch helpers shared by the CUDA backend's kernel files (nvcc only).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "cuda_check.h"

namespace elbo {
namespace cudak {

constexpr int kThreads = 256;
// Grid-stride loops: enough blocks to fill an H100 (132 SMs x 2048 threads) several
// times over, few enough that launch cost stays flat for huge n.
constexpr size_t kMaxBlocks = 4096;

inline int blocks_for(size_t n) {
  return int(std::min<size_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
}

// f(i) for i in [0, n): every element-wise op is a small functor with a __device__ operator().
template <class F>
__global__ void for_each_kernel(size_t n, F f) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) f(i);
}

template <class F>
void for_each(cudaStream_t s, size_t n, const F& f) {
  if (n == 0) return;
  for_each_kernel<<<blocks_for(n), kThreads, 0, s>>>(n, f);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cudak
}  // namespace elbo
