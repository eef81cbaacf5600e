// The CPU backend's layer ops of hierarchical models (backend.h: copy_columns,
// upsample2x, sum_pool2x, group norm, weight norm, embedding) as loops over the worker
// pool. Each output element is computed by one thread, reductions in double in a fixed
// order, so results are the same bits for any thread count.
#pragma once
#include <cstddef>

#include "worker_pool.h"

namespace elbo {
namespace cpu_layers {

void copy_columns(WorkerPool& pool, float* dst, size_t dst_stride, const float* src, size_t src_stride, int rows,
                  size_t cols, bool accumulate);
void upsample2x(WorkerPool& pool, float* big, const float* small, int planes, int h, int w, int lanes, float alpha,
                bool accumulate);
void sum_pool2x(WorkerPool& pool, float* small, const float* big, int planes, int h, int w, int lanes, float alpha,
                bool accumulate);
void group_norm_forward(WorkerPool& pool, float* y, float* stats, const float* x, const float* gamma,
                        const float* beta, int n, int c, int hw, int groups, float eps);
void group_norm_backward(WorkerPool& pool, float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* stats, const float* gamma, int n, int c, int hw, int groups, bool accumulate);
void weight_norm_forward(WorkerPool& pool, float* w, float* norms, const float* v, const float* g, int rows, int cols);
void weight_norm_backward(WorkerPool& pool, float* dv, float* dg, const float* dw, const float* v, const float* g,
                          const float* norms, int rows, int cols);
void embedding_forward(WorkerPool& pool, float* y, const float* table, const float* index, int rows, int classes,
                       int dim);
void embedding_backward(WorkerPool& pool, float* dtable, const float* dy, const float* index, int rows, int classes,
                        int dim);

}  // namespace cpu_layers
}  // namespace elbo
