// Host-side launchers of the CUDA backend's kernels, one per op of backend.h and
// distribution_kernels.h.
// Each enqueues on the given stream and returns at once; the arithmetic inside the
// kernels is the shared code of kernels/math.h and kernels/philox.h, so the CUDA and
// CPU backends differ only in rounding order (and in libm vs libdevice ulps).
// Reductions are deterministic: each output is summed by a fixed tree of threads in
// double precision, never with floating-point atomics.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>

#include "elbo/backend.h"

namespace elbo {
namespace cudak {

// ---- element-wise (cuda_elementwise.cu) ----
void fill(cudaStream_t s, float* x, size_t n, float value);
void fill_weight(cudaStream_t s, float* x, size_t n, Weight w);
void scale(cudaStream_t s, float* x, size_t n, float alpha);
void axpy(cudaStream_t s, float* y, const float* x, size_t n, float alpha);
void bias_act_forward(cudaStream_t s, float* y, const float* bias, int rows, int cols, Activation act);
void act_backward(cudaStream_t s, float* dx, const float* dy, const float* y, size_t n, Activation act);
void reparameterize(cudaStream_t s, float* z, float* eps, const float* stats, int rows, int latent,
                    const NoiseKey& key);
void reparameterize_backward(cudaStream_t s, float* dstats, const float* dz, const float* eps, const float* stats,
                             int rows, int latent);
void kl_backward(cudaStream_t s, float* dstats, const float* stats, int rows, int latent, Weight weight,
                 const float* dim_scale);
void free_bits_gates(cudaStream_t s, float* gate, const float* sums, int latent, float inv_count, float floor_nats);
void bernoulli_nll_backward(cudaStream_t s, float* dlogits, const float* logits, const float* x, int rows, int dim,
                            Weight weight);
void gaussian_nll_backward(cudaStream_t s, float* dout, const float* out, const float* x, int rows, int dim,
                           Weight weight);
void dlogistic_nll_backward(cudaStream_t s, float* dout, const float* out, const float* x, int rows, int dim,
                            Weight weight);
void prior_minus_posterior_backward(cudaStream_t s, float* dz, float* dstats, const float* z, int rows, int latent,
                                    Weight weight);
void log_mean_exp_rows_backward(cudaStream_t s, float* din, const float* in, const float* out, int rows, int k_count,
                                Weight weight);
void repeat_rows(cudaStream_t s, float* dst, const float* src, int rows, int cols, int times);
void binarize(cudaStream_t s, float* x, int rows, int dim, const NoiseKey& key);
void update_gate(cudaStream_t s, float* gate, const float* sumsq, const float* health, const UpdateRule& rule);
void kl_group_weights(cudaStream_t s, float* weights, const float* sums, const float* dims, int groups,
                      const KlGroupRule& rule);
// One kernel over the whole flat buffer; gate: device UpdateGate (nullptr: scale 1, never skipped).
void adam_step(cudaStream_t s, float* params, const float* grads, float* m, float* v, size_t n,
               const AdamHyper& hyper, const float* gate);
void add_unless_skipped(cudaStream_t s, float* y, const float* x, size_t n, const float* gate);
void ema_update(cudaStream_t s, float* ema, const float* params, size_t n, float decay, const float* gate);

// ---- reductions (cuda_reductions.cu) ----
// One block per row, a fixed tree within the block.
void kl_forward(cudaStream_t s, float* kl_per_row, const float* stats, int rows, int latent);
void bernoulli_nll_forward(cudaStream_t s, float* nll_per_row, const float* logits, const float* x, int rows,
                           int dim);
void gaussian_nll_forward(cudaStream_t s, float* nll_per_row, const float* out, const float* x, int rows, int dim);
void dlogistic_nll_forward(cudaStream_t s, float* nll_per_row, const float* out, const float* x, int rows, int dim);
void prior_minus_posterior_log_density(cudaStream_t s, float* logw, const float* z, const float* eps,
                                       const float* stats, int rows, int latent);
void log_mean_exp_rows(cudaStream_t s, float* out, const float* in, int rows, int k_count);
// sums[j] = sum_r KL(row r, dimension j): one thread per dimension, rows in order.
void kl_dim_sums(cudaStream_t s, float* sums, const float* stats, int rows, int latent);
// ---- Gaussian mixtures (cuda_mixture.cu): one thread per output element ----
void gaussian_log_density_pairs(cudaStream_t s, float* out, const float* z, const float* stats, int n, int m,
                                int latent, bool per_dimension);
void gaussian_log_density_pairs_backward(cudaStream_t s, float* dz, float* dstats, const float* dout, const float* z,
                                         const float* stats, int n, int m, int latent, bool per_dimension);
void posterior_log_density(cudaStream_t s, float* out, const float* eps, const float* stats, int rows, int latent);
void posterior_log_density_backward(cudaStream_t s, float* dstats, int rows, int latent, Weight weight);
// db[c] += sum_r dy[r, c]: 32 columns per block, 8 row lanes per column.
void bias_grad(cudaStream_t s, float* db, const float* dy, int rows, int cols);

// Whole-buffer reductions: a fixed grid of at most kReduceBlocks blocks writes one
// partial each into `scratch` (kReduceBlocks doubles of device memory), then a single
// block adds the partials in a fixed order. The grid depends on n only, so the result
// is the same bits on every run and every GPU model.
constexpr int kReduceBlocks = 1024;
void sum(cudaStream_t s, float* out, const float* x, size_t n, double* scratch);
void sum_squares_blocks(cudaStream_t s, float* out, const float* x, size_t n, size_t block);
void all_finite(cudaStream_t s, float* out, const float* x, size_t n, double* scratch);

}  // namespace cudak
}  // namespace elbo
