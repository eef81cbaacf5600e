// Host-side launchers of the CUDA kernels of the ops on pairs of diagonal Gaussians
// (distribution_kernels.h: KL, precision-weighted merge, sampled log ratio, log-variance bound), in
// cuda_gaussian_pairs.cu.
// Arithmetic from kernels/math.h; per-row sums are one block per row, a fixed tree in
// double (no atomics), so a run gives the same bits every time.
#pragma once
#include <cuda_runtime_api.h>

#include "elbo/backend.h"

namespace elbo {
namespace cudak {

void kl_gaussians_forward(cudaStream_t s, float* kl, const float* q, const float* p, int rows, int latent);
void kl_gaussians_backward(cudaStream_t s, float* dq, float* dp, const float* q, const float* p, int rows, int latent,
                           Weight weight);
void gaussian_merge_forward(cudaStream_t s, float* out, const float* a, const float* b, int rows, int latent);
void gaussian_merge_backward(cudaStream_t s, float* da, float* db, const float* dout, const float* a, const float* b,
                             int rows, int latent);
void gaussian_log_ratio_forward(cudaStream_t s, float* logw, const float* z, const float* eps, const float* q,
                                const float* p, int rows, int latent);
void gaussian_log_ratio_backward(cudaStream_t s, float* dz, float* dq, float* dp, const float* z, const float* p,
                                 int rows, int latent, Weight weight);
void bound_logvar_forward(cudaStream_t s, float* out, const float* stats, int rows, int latent, float clamp,
                          float floor);
void bound_logvar_backward(cudaStream_t s, float* dstats, const float* dout, const float* stats, int rows, int latent,
                           float clamp, float floor);

}  // namespace cudak
}  // namespace elbo
