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
#include "elbo/graph_memory.h"

namespace elbo {

class CudnnConv {
 public:
  // owner: the backend's name, for error messages. watch: the backend's record of the
  // memory a captured graph may read; the workspace is allocated and freed through it, so
  // that growing it after a capture makes the step be captured again (graph_memory.h).
  // drain: waits until the stream's queued work is done, before a smaller workspace is
  // freed; the backend's own wait, polled so that its wait monitor can end a wait behind
  // a collective that never completes (a plain cudaStreamSynchronize would block for ever).
  using Drain = std::function<void()>;
  CudnnConv(cudaStream_t stream, bool allow_tensor_ops, std::string owner, GraphMemoryWatch& watch, Drain drain);
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
  GraphMemoryWatch& watch_;
  Drain drain_;
  cudnnHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

}  // namespace elbo
