// CudaBackend's ops on pairs of diagonal Gaussians: each makes the device current and
// enqueues its kernel (cuda_gaussian_pairs.cu) on the backend's stream.
#include "cuda_backend.h"
#include "cuda_gaussian_pairs.h"

namespace elbo {

void CudaBackend::kl_gaussians_forward(float* kl_per_row, const float* q, const float* p, int rows, int latent) {
  make_current();
  cudak::kl_gaussians_forward(stream_, kl_per_row, q, p, rows, latent);
}
void CudaBackend::kl_gaussians_backward(float* dq, float* dp, const float* q, const float* p, int rows, int latent,
                                        Weight weight) {
  make_current();
  cudak::kl_gaussians_backward(stream_, dq, dp, q, p, rows, latent, weight);
}
void CudaBackend::gaussian_merge_forward(float* out, const float* a, const float* b, int rows, int latent) {
  make_current();
  cudak::gaussian_merge_forward(stream_, out, a, b, rows, latent);
}
void CudaBackend::gaussian_merge_backward(float* da, float* db, const float* dout, const float* a, const float* b,
                                          int rows, int latent) {
  make_current();
  cudak::gaussian_merge_backward(stream_, da, db, dout, a, b, rows, latent);
}
void CudaBackend::gaussian_log_ratio_forward(float* logw, const float* z, const float* eps, const float* q,
                                             const float* p, int rows, int latent) {
  make_current();
  cudak::gaussian_log_ratio_forward(stream_, logw, z, eps, q, p, rows, latent);
}
void CudaBackend::gaussian_log_ratio_backward(float* dz, float* dq, float* dp, const float* z, const float* p,
                                              int rows, int latent, Weight weight) {
  make_current();
  cudak::gaussian_log_ratio_backward(stream_, dz, dq, dp, z, p, rows, latent, weight);
}
void CudaBackend::bound_logvar_forward(float* out, const float* stats, int rows, int latent, float clamp,
                                       float floor) {
  make_current();
  cudak::bound_logvar_forward(stream_, out, stats, rows, latent, clamp, floor);
}
void CudaBackend::bound_logvar_backward(float* dstats, const float* dout, const float* stats, int rows, int latent,
                                        float clamp, float floor) {
  make_current();
  cudak::bound_logvar_backward(stream_, dstats, dout, stats, rows, latent, clamp, floor);
}

}  // namespace elbo
