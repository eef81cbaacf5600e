// The CUDA backend's 2-D convolutions (Backend::conv2d_*) through cuDNN's convolution
// API, on the backend's stream. Algorithms are fixed, not searched, and are ones cuDNN
// documents as deterministic (bitwise the same on every run): forward
// IMPLICIT_PRECOMP_GEMM, backward-data ALGO_1, backward-filter ALGO_1 (ALGO_0 of both
// backward passes accumulates with atomics). Math: FMA only for FP32 (no TF32),
// tensor-op math allowed when the backend's precision is TF32 or BF16.
//
// Only compiled with cuDNN (ELBO_WITH_CUDNN); without it the ops keep Backend's
// defaults, which throw.
//
// The first call of a shape may allocate workspace, which graph capture forbids: run
// each shape once before capturing (the trainer's first, eager step does).
#pragma once
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <functional>
#include <string>

#include "elbo/backend.h"

namespace elbo {

class CudnnConv {
 public:
  // owner: the backend's name, for error messages. allocate and release: the backend's
  // own device memory calls (CudaBackend::alloc and release), through which the workspace
  // grows: they tell the backend's GraphMemoryWatch, so that a graph captured while the
  // old workspace was alive is captured again rather than replayed into freed memory
  // (graph_memory.h), and they free in stream order (cudaFreeAsync), after the work
  // already queued that may still use the old workspace, without a host wait that could
  // block for ever behind a collective that never completes. release never throws.
  using Allocate = std::function<float*(size_t floats)>;
  using Release = std::function<void(float*)>;
  CudnnConv(cudaStream_t stream, bool allow_tensor_ops, std::string owner, Allocate allocate, Release release);
  ~CudnnConv();
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  void forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s);
  void backward_data(float* dx, const float* dy, const float* w, const ConvShape& s, float beta);
  void backward_weights(float* dw, float* db, const float* dy, const float* x, const ConvShape& s);
  std::string implementation() const;
  // Bytes of the workspace held now (it grows to the largest need seen, never shrinks).
  size_t workspace_bytes() const { return workspace_bytes_; }

 private:
  struct Descriptors;
  // Device workspace of at least `bytes` (grows, never during graph capture).
  void* workspace(size_t bytes);

  cudaStream_t stream_ = nullptr;
  cudnnMathType_t math_;
  std::string owner_;
  Allocate allocate_;
  Release release_;
  cudnnHandle_t handle_ = nullptr;
  float* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

}  // namespace elbo
