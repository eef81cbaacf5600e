// The CPU backend's ops on pairs of diagonal Gaussians (backend.h: KL, precision-weighted
// merge, sampled log-density ratio) as loops over kernels/math.h. Their sizes are rows x
// latent (tens to hundreds per row), so they run on the calling thread; per-row sums
// accumulate in double in index order, the same bits for any thread count.
#pragma once

#include "elbo/backend.h"

namespace elbo {
namespace cpu_gaussian_pairs {

void kl_forward(float* kl, const float* q, const float* p, int rows, int latent);
void kl_backward(float* dq, float* dp, const float* q, const float* p, int rows, int latent, Weight weight);
void merge_forward(float* out, const float* a, const float* b, int rows, int latent);
void merge_backward(float* da, float* db, const float* dout, const float* a, const float* b, int rows, int latent);
void log_ratio_forward(float* logw, const float* z, const float* eps, const float* q, const float* p, int rows,
                       int latent);
void log_ratio_backward(float* dz, float* dq, float* dp, const float* z, const float* p, int rows, int latent,
                        Weight weight);
void bound_logvar_forward(float* out, const float* stats, int rows, int latent, float clamp, float floor);
void bound_logvar_backward(float* dstats, const float* dout, const float* stats, int rows, int latent, float clamp,
                           float floor);

}  // namespace cpu_gaussian_pairs
}  // namespace elbo
