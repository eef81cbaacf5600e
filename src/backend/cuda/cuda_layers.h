// Host-side launchers of the CUDA kernels of the layer ops of hierarchical models
// (backend.h: act_backward_from_input, copy_columns, resampling, group norm, weight norm,
// embedding), in cuda_layers.cu. Arithmetic from kernels/math.h and kernels/layer_math.h;
// every reduction is a fixed tree in double per block, no atomics (as cuda_kernels.h).
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>

#include "elbo/backend.h"

namespace elbo {
namespace cudak {

void act_backward_from_input(cudaStream_t s, float* dx, const float* dy, const float* x, size_t n, Activation act);
void copy_columns(cudaStream_t s, float* dst, size_t dst_stride, const float* src, size_t src_stride, int rows,
                  size_t cols, bool accumulate);
void upsample2x(cudaStream_t s, float* big, const float* small, int planes, int h, int w, float alpha,
                bool accumulate);
void sum_pool2x(cudaStream_t s, float* small, const float* big, int planes, int h, int w, float alpha,
                bool accumulate);
// One block per (sample, group); the parameter gradients one block per channel.
void group_norm_forward(cudaStream_t s, float* y, float* stats, const float* x, const float* gamma, const float* beta,
                        int n, int c, int hw, int groups, float eps);
void group_norm_backward(cudaStream_t s, float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* stats, const float* gamma, int n, int c, int hw, int groups, bool accumulate);
// One block per row (output unit).
void weight_norm_forward(cudaStream_t s, float* w, float* norms, const float* v, const float* g, int rows, int cols);
void weight_norm_backward(cudaStream_t s, float* dv, float* dg, const float* dw, const float* v, const float* g,
                          const float* norms, int rows, int cols);
// The backward: one thread per table element, summing the rows of its class in row
// order (the CPU backend's order, so both give the same bits).
void embedding_forward(cudaStream_t s, float* y, const float* table, const float* index, int rows, int classes,
                       int dim);
void embedding_backward(cudaStream_t s, float* dtable, const float* dy, const float* index, int rows, int classes,
                        int dim);

}  // namespace cudak
}  // namespace elbo
