// The distribution math of the VAE family, as kernels a backend runs: the reparameterized
// Gaussian sample, KL to N(0, I) and between two diagonal Gaussians, the likelihoods
// (Bernoulli, Gaussian, discretized logistic), importance weights and log-mean-exp, the
// mixture log-densities of VampPrior and beta-TCVAE, Ladder VAE's precision-weighted
// merge, the bound on predicted log-variances, free-bits gates and KL balancing.
//
// Its own interface, apart from Backend's generic op set (memory, GEMM, convolution,
// element-wise, reductions, normalisation, gather): a backend hands it out through
// Backend::distributions(). Its users: the tape nodes of nn/distributions.h,
// nn/gaussian_kl.h, nn/gaussian_merge.h and nn/variance_bound.h, and the trainer's
// free-bits gates, KL balancing and per-image importance weights. The
// arithmetic of every kernel is written once, in kernels/math.h (__host__ __device__),
// and run by the CPU backend's loops and the CUDA backend's kernels alike. Pointers are
// device pointers of the backend's device; stats arrays are [rows, 2*latent] = (mu | logvar).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "elbo/kernels/math.h"

namespace elbo {

// The counter of the random numbers one op draws (see kernels/philox.h):
// row r of the op uses a = row_serial0 + r, element j uses b = j + element_offset.
// When serial_offset is set (a device pointer), *serial_offset is added to row_serial0 on
// the device: the per-step serial of a captured training step (CUDA graph) lives in
// device memory, so each replay draws the current step's noise.
struct NoiseKey {
  uint64_t seed = 0;
  uint32_t stream = 0;
  uint64_t row_serial0 = 0;
  uint32_t element_offset = 0;
  const uint64_t* serial_offset = nullptr;
  ELBO_HD uint64_t first_serial() const { return row_serial0 + (serial_offset ? *serial_offset : 0); }
};

// A weight of a backward op: value, times a device scalar when device_factor is set
// (the KL warm-up weight of a captured step, read from device memory at run time), times
// per_row[r] for row r when per_row is set (the gradient of a per-row term that feeds
// another node, such as an importance weight of the IWAE bound).
struct Weight {
  float value = 1.0f;
  const float* device_factor = nullptr;
  const float* per_row = nullptr;
  Weight(float v = 1.0f, const float* factor = nullptr) : value(v), device_factor(factor) {}  // NOLINT: floats convert
  static Weight rows(const float* per_row) {
    Weight w;
    w.per_row = per_row;
    return w;
  }
  ELBO_HD float get() const { return device_factor ? value * *device_factor : value; }
  ELBO_HD float at(size_t row) const { return per_row ? get() * per_row[row] : get(); }
};

class DistributionKernels {
 public:
  virtual ~DistributionKernels() = default;
  // The backend's name (the errors of the optional kernels name it).
  virtual std::string name() const = 0;

  // ---- the VAE's stochastic layer; stats is [rows, 2*latent] = (mu | logvar) ----
  // eps[r, j] ~ N(0,1) from key; z = mu + exp(logvar/2) * eps.
  virtual void reparameterize(float* z, float* eps, const float* stats, int rows, int latent, const NoiseKey& key) = 0;
  // dstats += d z / d stats applied to dz
  virtual void reparameterize_backward(float* dstats, const float* dz, const float* eps, const float* stats, int rows,
                                       int latent) = 0;
  // kl[r] = sum_j KL(N(mu, var) || N(0,1))
  virtual void kl_forward(float* kl_per_row, const float* stats, int rows, int latent) = 0;
  // dstats[r, j] += weight.at(r) * dim_scale[j] * dKL_rj/dstats (dim_scale null: 1; free bits)
  virtual void kl_backward(float* dstats, const float* stats, int rows, int latent, Weight weight,
                           const float* dim_scale = nullptr) = 0;
  // sums[j] = sum_r KL(N(mu_rj, var_rj) || N(0,1)), assigned: the KL of each latent dimension
  // (the collapse monitor, free bits), summed in row order.
  virtual void kl_dim_sums(float* sums, const float* stats, int rows, int latent) = 0;
  // gate[j] = free_bits_gate(sums[j] * inv_count, floor_nats) for j < latent.
  virtual void free_bits_gates(float* gate, const float* sums, int latent, float inv_count, float floor_nats) = 0;
  // weights[l] = the KL weight of group l (kl_group_weights_of, kernels/math.h), for the
  // groups' global KL sums and their sizes dims (device arrays of `groups` floats).
  virtual void kl_group_weights(float* weights, const float* sums, const float* dims, int groups,
                                const KlGroupRule& rule);

  // ---- likelihoods: nll[r] = -log p(x_r | decoder output) ----
  // Bernoulli: out is [rows, dim] logits.
  virtual void bernoulli_nll_forward(float* nll_per_row, const float* logits, const float* x, int rows, int dim) = 0;
  // dlogits[r, :] = weight.at(r) * (sigmoid(logits) - x)   (assigns)
  virtual void bernoulli_nll_backward(float* dlogits, const float* logits, const float* x, int rows, int dim,
                                      Weight weight) = 0;
  // Gaussian: out is [rows, 2*dim] = (mean | logvar).
  virtual void gaussian_nll_forward(float* nll_per_row, const float* out, const float* x, int rows, int dim) = 0;
  virtual void gaussian_nll_backward(float* dout, const float* out, const float* x, int rows, int dim,
                                     Weight weight) = 0;
  // Discretized logistic (8-bit values scaled to [0, 1]): out is [rows, 2*dim] = (mean |
  // log-scale) (kernels/math.h dlogistic_nll); the backward assigns like the others.
  virtual void dlogistic_nll_forward(float* nll_per_row, const float* out, const float* x, int rows, int dim);
  virtual void dlogistic_nll_backward(float* dout, const float* out, const float* x, int rows, int dim, Weight weight);

  // ---- importance weights (IWAE bound, NLL estimate) ----
  // logw[r] += log p(z_r) - log q(z_r | x) with z = mu + sigma*eps (so the q term uses eps directly).
  virtual void prior_minus_posterior_log_density(float* logw, const float* z, const float* eps, const float* stats,
                                                 int rows, int latent) = 0;
  // dz[r, j] += w_r * d/dz (log p(z) - log q(z|x)) and dstats[r, (logvar) j] += w_r * d/dlogvar,
  // w_r = weight.at(r): the backward of prior_minus_posterior_log_density (eps held fixed).
  virtual void prior_minus_posterior_backward(float* dz, float* dstats, const float* z, int rows, int latent,
                                              Weight weight) = 0;
  // out[r] = logsumexp_k in[r*k_count + k] - log(k_count)
  virtual void log_mean_exp_rows(float* out, const float* in, int rows, int k_count) = 0;
  // din[r*k_count + k] = weight.at(r) * exp(in[r*k_count + k] - out[r]) / k_count, assigned:
  // the backward of log_mean_exp_rows given its output (the normalised importance weights).
  virtual void log_mean_exp_rows_backward(float* din, const float* in, const float* out, int rows, int k_count,
                                          Weight weight) = 0;

  // ---- mixtures of diagonal Gaussians (VampPrior, total correlation) ----
  // For z [n, latent] and stats [m, 2*latent] = (mu | logvar), every sample under every
  // component (assigned):
  //   per_dimension false: out[i*m + k] = sum_j log N(z[i, j]; mu[k, j], exp(logvar[k, j]))
  //   per_dimension true:  out[(i*latent + j)*m + k] = log N(z[i, j]; mu[k, j], exp(logvar[k, j]))
  // (the marginals of each dimension: beta-TCVAE's product of marginals).
  virtual void gaussian_log_density_pairs(float* out, const float* z, const float* stats, int n, int m, int latent,
                                          bool per_dimension) = 0;
  // dz += d/dz and dstats += d/dstats of sum dout * out over out's entries (laid out as
  // the forward's for per_dimension); either gradient may be null (not wanted).
  virtual void gaussian_log_density_pairs_backward(float* dz, float* dstats, const float* dout, const float* z,
                                                   const float* stats, int n, int m, int latent,
                                                   bool per_dimension) = 0;
  // out[r] = log q(z_r | x_r) = sum_j log N(eps[r, j]; 0, 1) - logvar[r, j] / 2 for the sample
  // z = mu + exp(logvar / 2) * eps (assigned); the backward adds -weight.at(r) / 2 to each
  // logvar of row r (eps held fixed, as in the reparameterised gradient).
  virtual void posterior_log_density(float* out, const float* eps, const float* stats, int rows, int latent) = 0;
  virtual void posterior_log_density_backward(float* dstats, int rows, int latent, Weight weight) = 0;

  // ---- pairs of diagonal Gaussians (hierarchical VAEs; optional, the defaults throw:
  // src/backend/backend_gaussian_pairs.cc). q, p, a, b are [rows, 2*latent] = (mu | logvar);
  // the math is kernels/math.h's. Backward ops add into their outputs; a null gradient
  // pointer is skipped. ----
  // kl[r] = sum_j KL(N(q_rj) || N(p_rj)), assigned.
  virtual void kl_gaussians_forward(float* kl_per_row, const float* q, const float* p, int rows, int latent);
  // dq += weight.at(r) * dKL/dq, dp += weight.at(r) * dKL/dp.
  virtual void kl_gaussians_backward(float* dq, float* dp, const float* q, const float* p, int rows, int latent,
                                     Weight weight);
  // out = the precision-weighted merge of a and b per dimension (gaussian_merge), assigned.
  virtual void gaussian_merge_forward(float* out, const float* a, const float* b, int rows, int latent);
  // da, db += the merge's backward of dout.
  virtual void gaussian_merge_backward(float* da, float* db, const float* dout, const float* a, const float* b,
                                       int rows, int latent);
  // logw[r] += sum_j log N(z_rj; p_rj) - log N(z_rj; q_rj) for z = mu_q + sigma_q * eps.
  virtual void gaussian_log_ratio_forward(float* logw, const float* z, const float* eps, const float* q, const float* p,
                                          int rows, int latent);
  // out = stats with each logvar bounded (kernels/math.h bounded_logvar: soft clamp C, sigma
  // floor f), the means copied; assigned.
  virtual void bound_logvar_forward(float* out, const float* stats, int rows, int latent, float clamp, float floor);
  // dstats += dout with each logvar's gradient times bounded_logvar_grad.
  virtual void bound_logvar_backward(float* dstats, const float* dout, const float* stats, int rows, int latent,
                                     float clamp, float floor);
  // dz, dq (its logvar half), dp += weight.at(r) * the gradients of that term (eps fixed).
  virtual void gaussian_log_ratio_backward(float* dz, float* dq, float* dp, const float* z, const float* p, int rows,
                                           int latent, Weight weight);
};

// Throws an elbo::Error: `op` is an optional kernel that the named backend does not run.
[[noreturn]] void fail_missing_kernel(const std::string& backend, const char* op);

}  // namespace elbo
