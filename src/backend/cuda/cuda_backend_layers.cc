// CudaBackend's layer ops of hierarchical models: each makes the device current and
// enqueues its kernels (cuda_layers.cu) on the backend's stream.
#include "cuda_backend.h"
#include "cuda_layers.h"
#include "elbo/error.h"

namespace elbo {

void CudaBackend::act_backward_from_input(float* dx, const float* dy, const float* x, size_t n, Activation act) {
  make_current();
  cudak::act_backward_from_input(stream_, dx, dy, x, n, act);
}
void CudaBackend::copy_columns(float* dst, size_t dst_stride, const float* src, size_t src_stride, int rows,
                               size_t cols, bool accumulate) {
  make_current();
  cudak::copy_columns(stream_, dst, dst_stride, src, src_stride, rows, cols, accumulate);
}
// Pixels of one float (NCHW): this backend's channel_block() is 0, so no graph asks for more.
void CudaBackend::upsample2x(float* big, const float* small, int planes, int h, int w, int lanes, float alpha,
                             bool accumulate) {
  ELBO_CHECK(lanes == 1, "upsample2x: the CUDA backend resamples NCHW maps (lanes 1), got lanes " << lanes);
  make_current();
  cudak::upsample2x(stream_, big, small, planes, h, w, alpha, accumulate);
}
void CudaBackend::sum_pool2x(float* small, const float* big, int planes, int h, int w, int lanes, float alpha,
                             bool accumulate) {
  ELBO_CHECK(lanes == 1, "sum_pool2x: the CUDA backend resamples NCHW maps (lanes 1), got lanes " << lanes);
  make_current();
  cudak::sum_pool2x(stream_, small, big, planes, h, w, alpha, accumulate);
}
void CudaBackend::group_norm_forward(float* y, float* stats, const float* x, const float* gamma, const float* beta,
                                     int n, int c, int hw, int groups, float eps) {
  make_current();
  cudak::group_norm_forward(stream_, y, stats, x, gamma, beta, n, c, hw, groups, eps);
}
void CudaBackend::group_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                                      const float* stats, const float* gamma, int n, int c, int hw, int groups,
                                      bool accumulate) {
  make_current();
  cudak::group_norm_backward(stream_, dx, dgamma, dbeta, dy, x, stats, gamma, n, c, hw, groups, accumulate);
}
void CudaBackend::weight_norm_forward(float* w, float* norms, const float* v, const float* g, int rows, int cols) {
  make_current();
  cudak::weight_norm_forward(stream_, w, norms, v, g, rows, cols);
}
void CudaBackend::weight_norm_backward(float* dv, float* dg, const float* dw, const float* v, const float* g,
                                       const float* norms, int rows, int cols) {
  make_current();
  cudak::weight_norm_backward(stream_, dv, dg, dw, v, g, norms, rows, cols);
}
void CudaBackend::embedding_forward(float* y, const float* table, const float* index, int rows, int classes,
                                    int dim) {
  make_current();
  cudak::embedding_forward(stream_, y, table, index, rows, classes, dim);
}
void CudaBackend::embedding_backward(float* dtable, const float* dy, const float* index, int rows, int classes,
                                     int dim) {
  make_current();
  cudak::embedding_backward(stream_, dtable, dy, index, rows, classes, dim);
}

}  // namespace elbo
