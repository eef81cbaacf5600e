// CPU backend: oneDNN for GEMM and convolution (one thread per call, spread over the
// backend's worker pool), plain loops over the shared arithmetic of kernels/math.h for
// everything else. Reductions accumulate in double, in index order, so results are
// deterministic and independent of thread counts.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/kernels/philox.h"
#include "cpu_gaussian_pairs.h"
#include "cpu_layers.h"
#include "onednn_conv.h"
#include "bf16_gemm.h"
#include "elbo/error.h"
#include "lane_sum.h"
#include "partitioned_gemm.h"
#include "vector_loops.h"
#include "worker_pool.h"

namespace elbo {
namespace {

// Below this many elements per part a loop stays on one thread.
constexpr size_t kMinElementsPerPart = 32768;

class CpuBackend final : public Backend, public DistributionKernels {
 public:
  CpuBackend(int threads, bool bf16) : pool_(threads), conv_(pool_) {
    if (bf16) bf16_ = std::make_unique<Bf16Gemm>(pool_);
  }

  Device device() const override { return Device{DeviceType::kCPU, 0}; }
  DistributionKernels& distributions() override { return *this; }
  std::string name() const override {
    return "cpu (oneDNN, " + std::to_string(pool_.threads()) + (pool_.threads() == 1 ? " thread" : " threads") +
           (bf16_ ? ", bf16 layer GEMMs)" : ")");
  }

  float* alloc(size_t n) override { return new float[n](); }
  void release(float* p) override { delete[] p; }
  void copy_to_device(float* dst, const float* src, size_t n) override { copy(dst, src, n); }
  void copy_to_host(float* dst, const float* src, size_t n) override { copy(dst, src, n); }
  void copy(float* dst, const float* src, size_t n) override {
    if (n && dst != src) std::memmove(dst, src, n * sizeof(float));
  }
  void fill(float* x, size_t n, float value) override {
    over_elements(n, [&](size_t b, size_t e) {
      if (value == 0.0f) {
        std::memset(x + b, 0, (e - b) * sizeof(float));
        return;
      }
      for (size_t i = b; i < e; ++i) x[i] = value;
    });
  }  void fill_weight(float* x, size_t n, Weight w) override {
    for (size_t i = 0; i < n; ++i) x[i] = w.at(i);
  }

  void synchronize() override {}

  void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, const float* b, float beta,
            float* c) override {
    const GemmArgs g{trans_a, trans_b, m, n, k, alpha, a, b, beta, c};
    partitioned_sgemm(pool_, &g, 1);
  }
  void layer_gemms(const GemmArgs* gemms, int count) override {
    if (bf16_) bf16_->run(gemms, count);
    else partitioned_sgemm(pool_, gemms, count);
  }

  // The hot element-wise loops: vector_loops.cc, compiled for each vector width.
  void bias_act_forward(float* y, const float* bias, int rows, int cols, Activation act) override {
    over_rows(rows, cols, [&](size_t r0, size_t r1) { vector_loops::bias_act_rows(y, bias, r0, r1, cols, act); });
  }
  void act_backward(float* dx, const float* dy, const float* y, size_t n, Activation act) override {
    over_elements(n, [&](size_t b, size_t e) { vector_loops::act_backward_from_output(dx, dy, y, b, e, act); });
  }
  void act_backward_from_input(float* dx, const float* dy, const float* x, size_t n, Activation act) override {
    over_elements(n, [&](size_t b, size_t e) { vector_loops::act_backward_from_input(dx, dy, x, b, e, act); });
  }
  void bias_grad(float* db, const float* dy, int rows, int cols) override {
    std::vector<double> acc(cols, 0.0);
    for (int r = 0; r < rows; ++r) {
      const float* row = dy + size_t(r) * cols;
      for (int c = 0; c < cols; ++c) acc[c] += row[c];
    }
    for (int c = 0; c < cols; ++c) db[c] += float(acc[c]);
  }
  void axpy(float* y, const float* x, size_t n, float alpha) override {
    over_elements(n, [&](size_t b, size_t e) {
      const float a = alpha;  // a local copy: a captured reference might alias y
      for (size_t i = b; i < e; ++i) y[i] += a * x[i];
    });
  }
  void scale(float* x, size_t n, float alpha) override {
    over_elements(n, [&](size_t b, size_t e) {
      const float a = alpha;
      for (size_t i = b; i < e; ++i) x[i] *= a;
    });
  }

  void conv2d_forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s) override {
    conv_.forward(y, x, w, bias, s);
  }
  void conv2d_backward_data(float* dx, const float* dy, const float* w, const ConvShape& s, float beta) override {
    conv_.backward_data(dx, dy, w, s, beta);
  }
  void conv2d_backward_weights(float* dw, float* db, const float* dy, const float* x, const ConvShape& s) override {
    conv_.backward_weights(dw, db, dy, x, s);
  }
  std::string conv2d_implementation(const ConvShape& s) override { return conv_.implementation(s); }
  int channel_block() const override { return conv_.channel_block(); }

  // Layers of hierarchical models: cpu_layers.cc.
  void copy_columns(float* dst, size_t dst_stride, const float* src, size_t src_stride, int rows, size_t cols,
                    bool accumulate) override {
    cpu_layers::copy_columns(pool_, dst, dst_stride, src, src_stride, rows, cols, accumulate);
  }
  void upsample2x(float* big, const float* small, int planes, int h, int w, int lanes, float alpha,
                  bool accumulate) override {
    cpu_layers::upsample2x(pool_, big, small, planes, h, w, lanes, alpha, accumulate);
  }
  void sum_pool2x(float* small, const float* big, int planes, int h, int w, int lanes, float alpha,
                  bool accumulate) override {
    cpu_layers::sum_pool2x(pool_, small, big, planes, h, w, lanes, alpha, accumulate);
  }
  void group_norm_forward(float* y, float* stats, const float* x, const float* gamma, const float* beta, int n, int c,
                          int hw, int groups, float eps) override {
    cpu_layers::group_norm_forward(pool_, y, stats, x, gamma, beta, n, c, hw, groups, eps);
  }
  void group_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* stats,
                           const float* gamma, int n, int c, int hw, int groups, bool accumulate) override {
    cpu_layers::group_norm_backward(pool_, dx, dgamma, dbeta, dy, x, stats, gamma, n, c, hw, groups, accumulate);
  }
  void weight_norm_forward(float* w, float* norms, const float* v, const float* g, int rows, int cols) override {
    cpu_layers::weight_norm_forward(pool_, w, norms, v, g, rows, cols);
  }
  void weight_norm_backward(float* dv, float* dg, const float* dw, const float* v, const float* g, const float* norms,
                            int rows, int cols) override {
    cpu_layers::weight_norm_backward(pool_, dv, dg, dw, v, g, norms, rows, cols);
  }
  void embedding_forward(float* y, const float* table, const float* index, int rows, int classes, int dim) override {
    cpu_layers::embedding_forward(pool_, y, table, index, rows, classes, dim);
  }
  void embedding_backward(float* dtable, const float* dy, const float* index, int rows, int classes,
                          int dim) override {
    cpu_layers::embedding_backward(pool_, dtable, dy, index, rows, classes, dim);
  }

  void reparameterize(float* z, float* eps, const float* stats, int rows, int latent, const NoiseKey& key) override {
    if (rows <= 0 || latent <= 0) return;
    // Normal b of a row takes words 2 (b & 1) and 2 (b & 1) + 1 of draw b >> 1
    // (philox_normal's convention): draw the row's words, then the normals from them in a
    // loop that vectorises, then z.
    const uint32_t first = key.element_offset, last = key.element_offset + uint32_t(latent) - 1;
    const uint32_t q0 = first >> 1, draws = (last >> 1) - q0 + 1;
    const uint64_t serial0 = key.first_serial();
    noise_words_.resize(4 * size_t(draws));  // grows on the first step only
    for (int r = 0; r < rows; ++r) {
      const float* mu = stats + size_t(r) * 2 * latent;
      const float* logvar = mu + latent;
      float* eps_row = eps + size_t(r) * latent;
      float* z_row = z + size_t(r) * latent;
      vector_loops::philox_row_words(noise_words_.data(), key.seed, key.stream, serial0 + uint64_t(r), q0, draws);
      vector_loops::standard_normals(eps_row, noise_words_.data() + 2 * (first & 1u), size_t(latent));
      for (int j = 0; j < latent; ++j) z_row[j] = elbo::reparameterize(mu[j], logvar[j], eps_row[j]);
    }
  }
  void reparameterize_backward(float* dstats, const float* dz, const float* eps, const float* stats, int rows,
                               int latent) override {
    for (int r = 0; r < rows; ++r) {
      const float* logvar = stats + size_t(r) * 2 * latent + latent;
      float* dmu = dstats + size_t(r) * 2 * latent;
      float* dlogvar = dmu + latent;
      for (int j = 0; j < latent; ++j) {
        size_t i = size_t(r) * latent + j;
        dmu[j] += dz[i];
        dlogvar[j] += dz[i] * reparameterize_grad_logvar(logvar[j], eps[i]);
      }
    }
  }
  void kl_forward(float* kl, const float* stats, int rows, int latent) override {
    for (int r = 0; r < rows; ++r) {
      const float* mu = stats + size_t(r) * 2 * latent;
      const float* logvar = mu + latent;
      double acc = 0.0;
      for (int j = 0; j < latent; ++j) acc += kl_std_normal(mu[j], logvar[j]);
      kl[r] = float(acc);
    }
  }
  void kl_backward(float* dstats, const float* stats, int rows, int latent, Weight kl_weight,
                   const float* dim_scale) override {
    for (int r = 0; r < rows; ++r) {
      const float weight = kl_weight.at(size_t(r));
      const float* mu = stats + size_t(r) * 2 * latent;
      const float* logvar = mu + latent;
      float* dmu = dstats + size_t(r) * 2 * latent;
      float* dlogvar = dmu + latent;
      for (int j = 0; j < latent; ++j) {
        const float w = dim_scale ? weight * dim_scale[j] : weight;
        dmu[j] += w * kl_std_normal_grad_mu(mu[j]);
        dlogvar[j] += w * kl_std_normal_grad_logvar(logvar[j]);
      }
    }
  }
  void kl_dim_sums(float* sums, const float* stats, int rows, int latent) override {
    for (int j = 0; j < latent; ++j) {
      double acc = 0.0;
      for (int r = 0; r < rows; ++r) {
        const float* mu = stats + size_t(r) * 2 * latent;
        acc += kl_std_normal(mu[j], mu[latent + j]);
      }
      sums[j] = float(acc);
    }
  }
  void free_bits_gates(float* gate, const float* sums, int latent, float inv_count, float floor_nats) override {
    for (int j = 0; j < latent; ++j) gate[j] = free_bits_gate(sums[j] * inv_count, floor_nats);
  }
  void kl_group_weights(float* weights, const float* sums, const float* dims, int groups,
                        const KlGroupRule& rule) override {
    kl_group_weights_of(weights, sums, dims, groups, rule);
  }

  void bernoulli_nll_forward(float* nll, const float* logits, const float* x, int rows, int dim) override {
    over_rows(rows, dim, [&](size_t r0, size_t r1) {
      std::vector<float> terms(size_t(std::max(dim, 0)));
      vector_loops::bernoulli_nll_rows(nll, logits, x, r0, r1, dim, terms.data());
    });
  }
  void bernoulli_nll_backward(float* dlogits, const float* logits, const float* x, int rows, int dim,
                              Weight weight) override {
    if (weight.per_row) {  // a weight per row: row by row
      over_rows(rows, dim, [&](size_t r0, size_t r1) {
        for (size_t r = r0; r < r1; ++r)
          vector_loops::bernoulli_nll_grad(dlogits, logits, x, r * dim, (r + 1) * dim, weight.at(r));
      });
      return;
    }
    over_elements(size_t(rows) * dim, [&](size_t b, size_t e) {
      vector_loops::bernoulli_nll_grad(dlogits, logits, x, b, e, weight.get());
    });
  }
  void gaussian_nll_forward(float* nll, const float* out, const float* x, int rows, int dim) override {
    for (int r = 0; r < rows; ++r) {
      const float* mean = out + size_t(r) * 2 * dim;
      const float* logvar = mean + dim;
      const float* xr = x + size_t(r) * dim;
      nll[r] = float(lane_sum(size_t(dim), [&](size_t j) { return gaussian_nll(xr[j], mean[j], logvar[j]); }));
    }
  }
  void gaussian_nll_backward(float* dout, const float* out, const float* x, int rows, int dim, Weight w) override {
    for (int r = 0; r < rows; ++r) {
      const float weight = w.at(size_t(r));
      const float* mean = out + size_t(r) * 2 * dim;
      const float* logvar = mean + dim;
      const float* xr = x + size_t(r) * dim;
      float* dmean = dout + size_t(r) * 2 * dim;
      float* dlogvar = dmean + dim;
      for (int j = 0; j < dim; ++j) {
        dmean[j] = weight * gaussian_nll_grad_mu(xr[j], mean[j], logvar[j]);
        dlogvar[j] = weight * gaussian_nll_grad_logvar(xr[j], mean[j], logvar[j]);
      }
    }
  }

  void dlogistic_nll_forward(float* nll, const float* out, const float* x, int rows, int dim) override {
    for (int r = 0; r < rows; ++r) {
      const float* mean = out + size_t(r) * 2 * dim;
      const float* log_scale = mean + dim;
      const float* xr = x + size_t(r) * dim;
      nll[r] = float(lane_sum(size_t(dim), [&](size_t j) { return dlogistic_nll(xr[j], mean[j], log_scale[j]).nll; }));
    }
  }
  void dlogistic_nll_backward(float* dout, const float* out, const float* x, int rows, int dim, Weight w) override {
    for (int r = 0; r < rows; ++r) {
      const float weight = w.at(size_t(r));
      const float* mean = out + size_t(r) * 2 * dim;
      const float* xr = x + size_t(r) * dim;
      float* dmean = dout + size_t(r) * 2 * dim;
      for (int j = 0; j < dim; ++j) {
        const DlogisticNll t = dlogistic_nll(xr[j], mean[j], mean[dim + j]);
        dmean[j] = weight * t.dmu;
        dmean[dim + j] = weight * t.dlog_scale;
      }
    }
  }

  void prior_minus_posterior_log_density(float* logw, const float* z, const float* eps, const float* stats, int rows,
                                         int latent) override {
    for (int r = 0; r < rows; ++r) {
      const float* logvar = stats + size_t(r) * 2 * latent + latent;
      double acc = 0.0;
      for (int j = 0; j < latent; ++j) {
        size_t i = size_t(r) * latent + j;
        // log q(z|x) with z = mu + sigma*eps is log N(eps; 0, 1) - log sigma.
        acc += std_normal_log_density(z[i]) - (std_normal_log_density(eps[i]) - 0.5f * logvar[j]);
      }
      logw[r] += float(acc);
    }
  }
  void prior_minus_posterior_backward(float* dz, float* dstats, const float* z, int rows, int latent,
                                      Weight weight) override {
    for (int r = 0; r < rows; ++r) {
      const float w = weight.at(size_t(r));
      float* dlogvar = dstats + size_t(r) * 2 * latent + latent;
      for (int j = 0; j < latent; ++j) {
        const size_t i = size_t(r) * latent + j;
        dz[i] += w * log_prior_grad_z(z[i]);
        dlogvar[j] += w * kNegLogPosteriorGradLogvar;
      }
    }
  }
  void log_mean_exp_rows_backward(float* din, const float* in, const float* out, int rows, int k_count,
                                  Weight weight) override {
    const float log_k = float(std::log(double(k_count)));  // computed alike on every backend
    for (int r = 0; r < rows; ++r) {
      const float w = weight.at(size_t(r));
      for (int k = 0; k < k_count; ++k) {
        const size_t i = size_t(r) * k_count + k;
        din[i] = w * log_mean_exp_grad(in[i], out[r], log_k);
      }
    }
  }
  // Each output row is one thread's, summed in a fixed order: bitwise the same for any
  // thread count. exp(-logvar) of every component is computed once per call.
  void gaussian_log_density_pairs(float* out, const float* z, const float* stats, int n, int m, int latent,
                                  bool per_dimension) override {
    const std::vector<float> iv = inverse_variances(stats, m, latent);
    over_rows(n, m * latent, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; ++i) {
        const float* zi = z + i * latent;
        for (int k = 0; k < m; ++k) {
          const float* mu = stats + size_t(k) * 2 * latent;
          const float* ivk = iv.data() + size_t(k) * latent;
          if (per_dimension) {
            for (int j = 0; j < latent; ++j)
              out[(i * latent + j) * m + k] = gaussian_log_density_iv(zi[j], mu[j], mu[latent + j], ivk[j]);
            continue;
          }
          double acc = 0.0;
          for (int j = 0; j < latent; ++j) acc += gaussian_log_density_iv(zi[j], mu[j], mu[latent + j], ivk[j]);
          out[i * m + k] = float(acc);
        }
      }
    });
  }
  void gaussian_log_density_pairs_backward(float* dz, float* dstats, const float* dout, const float* z,
                                           const float* stats, int n, int m, int latent, bool per_dimension) override {
    const std::vector<float> iv = inverse_variances(stats, m, latent);
    // The gradient of entry (sample i, component k, dimension j).
    auto grad_of = [&](size_t i, size_t k, size_t j) {
      return dout[per_dimension ? (i * latent + j) * m + k : i * m + k];
    };
    if (dz) over_rows(n, m * latent, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; ++i)
        for (int j = 0; j < latent; ++j) {
          const float zij = z[i * latent + j];
          double acc = 0.0;
          for (int k = 0; k < m; ++k)
            acc += double(grad_of(i, size_t(k), size_t(j))) *
                   gaussian_log_density_grad_z(zij, stats[size_t(k) * 2 * latent + j], iv[size_t(k) * latent + j]);
          dz[i * latent + j] += float(acc);
        }
    });
    if (dstats) over_rows(m, n * latent, [&](size_t k0, size_t k1) {
      for (size_t k = k0; k < k1; ++k)
        for (int j = 0; j < latent; ++j) {
          const float mu = stats[k * 2 * latent + j], ivkj = iv[k * latent + j];
          double dmu = 0.0, dlogvar = 0.0;
          for (int i = 0; i < n; ++i) {
            const float g = grad_of(size_t(i), k, size_t(j)), zij = z[size_t(i) * latent + j];
            dmu -= double(g) * gaussian_log_density_grad_z(zij, mu, ivkj);
            dlogvar += double(g) * gaussian_log_density_grad_logvar(zij, mu, ivkj);
          }
          dstats[k * 2 * latent + j] += float(dmu);
          dstats[k * 2 * latent + latent + j] += float(dlogvar);
        }
    });
  }
  void posterior_log_density(float* out, const float* eps, const float* stats, int rows, int latent) override {
    for (int r = 0; r < rows; ++r) {
      const float* logvar = stats + size_t(r) * 2 * latent + latent;
      double acc = 0.0;
      for (int j = 0; j < latent; ++j) acc += posterior_log_density_term(eps[size_t(r) * latent + j], logvar[j]);
      out[r] = float(acc);
    }
  }
  void posterior_log_density_backward(float* dstats, int rows, int latent, Weight weight) override {
    for (int r = 0; r < rows; ++r) {
      const float w = -kNegLogPosteriorGradLogvar * weight.at(size_t(r));
      float* dlogvar = dstats + size_t(r) * 2 * latent + latent;
      for (int j = 0; j < latent; ++j) dlogvar[j] += w;
    }
  }
  void log_mean_exp_rows(float* out, const float* in, int rows, int k_count) override {
    for (int r = 0; r < rows; ++r) {
      const float* row = in + size_t(r) * k_count;
      float mx = row[0];
      for (int k = 1; k < k_count; ++k) mx = row[k] > mx ? row[k] : mx;
      double acc = 0.0;
      for (int k = 0; k < k_count; ++k) acc += std::exp(double(row[k]) - mx);
      out[r] = float(mx + std::log(acc) - std::log(double(k_count)));
    }
  }

  void kl_gaussians_forward(float* kl, const float* q, const float* p, int rows, int latent) override {
    cpu_gaussian_pairs::kl_forward(kl, q, p, rows, latent);
  }
  void kl_gaussians_backward(float* dq, float* dp, const float* q, const float* p, int rows, int latent,
                             Weight weight) override {
    cpu_gaussian_pairs::kl_backward(dq, dp, q, p, rows, latent, weight);
  }
  void gaussian_merge_forward(float* out, const float* a, const float* b, int rows, int latent) override {
    cpu_gaussian_pairs::merge_forward(out, a, b, rows, latent);
  }
  void gaussian_merge_backward(float* da, float* db, const float* dout, const float* a, const float* b, int rows,
                               int latent) override {
    cpu_gaussian_pairs::merge_backward(da, db, dout, a, b, rows, latent);
  }
  void gaussian_log_ratio_forward(float* logw, const float* z, const float* eps, const float* q, const float* p,
                                  int rows, int latent) override {
    cpu_gaussian_pairs::log_ratio_forward(logw, z, eps, q, p, rows, latent);
  }
  void bound_logvar_forward(float* out, const float* stats, int rows, int latent, float clamp,
                            float floor) override {
    cpu_gaussian_pairs::bound_logvar_forward(out, stats, rows, latent, clamp, floor);
  }
  void bound_logvar_backward(float* dstats, const float* dout, const float* stats, int rows, int latent, float clamp,
                             float floor) override {
    cpu_gaussian_pairs::bound_logvar_backward(dstats, dout, stats, rows, latent, clamp, floor);
  }
  void gaussian_log_ratio_backward(float* dz, float* dq, float* dp, const float* z, const float* p, int rows,
                                   int latent, Weight weight) override {
    cpu_gaussian_pairs::log_ratio_backward(dz, dq, dp, z, p, rows, latent, weight);
  }

  void binarize(float* x, int rows, int dim, const NoiseKey& key) override {
    if (rows <= 0 || dim <= 0) return;
    // Element b of a row takes word b & 3 of draw b >> 2 (philox_uniform's convention).
    const uint32_t first = key.element_offset, last = key.element_offset + uint32_t(dim) - 1;
    const uint32_t q0 = first >> 2, draws = (last >> 2) - q0 + 1;
    const uint64_t serial0 = key.first_serial();
    over_rows(rows, dim, [&](size_t r0, size_t r1) {
      std::vector<uint32_t> words(4 * size_t(draws));
      for (size_t r = r0; r < r1; ++r) {
        float* __restrict row = x + r * dim;
        vector_loops::philox_row_words(words.data(), key.seed, key.stream, serial0 + r, q0, draws);
        const uint32_t* __restrict w = words.data() + (first & 3u);
        for (int j = 0; j < dim; ++j) row[j] = philox_u32_to_unit(w[j]) < row[j] ? 1.0f : 0.0f;
      }
    });
  }

  void sum(float* out, const float* x, size_t n) override {
    out[0] = float(lane_sum(n, [&](size_t i) { return x[i]; }));
  }
  void sum_squares_blocks(float* out, const float* x, size_t n, size_t block) override {
    const size_t blocks = block == 0 ? 0 : (n + block - 1) / block;
    for (size_t b = 0; b < blocks; ++b) {
      const float* xb = x + b * block;
      out[b] = float(lane_sum(std::min(block, n - b * block), [&](size_t i) { return double(xb[i]) * xb[i]; }));
    }
  }
  void all_finite(float* out, const float* x, size_t n) override {
    bool ok = true;
    for (size_t i = 0; i < n && ok; ++i) ok = std::isfinite(x[i]);
    out[0] = ok ? 1.0f : 0.0f;
  }

  void update_gate(float* gate, const float* sumsq, const float* health, const UpdateRule& rule) override {
    decide_update(gate, sumsq[0], health ? health[0] : 0.0f, rule);
  }
  void adam_step(float* params, const float* grads, float* m, float* v, size_t n, const AdamHyper& hyper,
                 const float* gate) override {
    if (gate && gate[UpdateGate::kSkip] != 0.0f) return;
    const float scale = gate ? gate[UpdateGate::kScale] : 1.0f;
    const AdamHyper h = resolve_adam_step(hyper);
    over_elements(n, [&](size_t b, size_t e) { vector_loops::adam(params, grads, m, v, b, e, h, scale); });
  }
  void add_unless_skipped(float* y, const float* x, size_t n, const float* gate) override {
    if (gate[UpdateGate::kSkip] != 0.0f) return;
    for (size_t i = 0; i < n; ++i) y[i] += x[i];
  }
  void ema_update(float* ema, const float* params, size_t n, float decay, const float* gate) override {
    if (gate && gate[UpdateGate::kSkip] != 0.0f) return;
    over_elements(n, [&](size_t b, size_t e) {
      float* __restrict out = ema;
      const float* __restrict p = params;
      for (size_t i = b; i < e; ++i) out[i] = ema_value(out[i], p[i], decay);
    });
  }

 private:
  // exp(-logvar) of each of m components (stats rows (mu | logvar)).
  static std::vector<float> inverse_variances(const float* stats, int m, int latent) {
    std::vector<float> iv(size_t(m) * latent);
    for (int k = 0; k < m; ++k)
      for (int j = 0; j < latent; ++j) iv[size_t(k) * latent + j] = expf(-stats[size_t(k) * 2 * latent + latent + j]);
    return iv;
  }
  // Element-wise loops over [0, n) and row loops over [0, rows), split over the pool.
  template <typename F>
  void over_elements(size_t n, F&& f) {
    pool_.parallel_for(n, kMinElementsPerPart, f);
  }
  template <typename F>
  void over_rows(int rows, int cols, F&& f) {
    if (rows <= 0) return;
    pool_.parallel_for(size_t(rows), std::max<size_t>(1, kMinElementsPerPart / std::max(1, cols)), f);
  }

  WorkerPool pool_;
  std::vector<uint32_t> noise_words_;  // reparameterize(): one row's Philox words
  OnednnConv conv_;                 // after pool_, which it uses
  std::unique_ptr<Bf16Gemm> bf16_;  // train.precision: bf16 (layer GEMMs only)
};

}  // namespace

std::string cpu_bf16_unavailable_reason() { return Bf16Gemm::unsupported_reason(); }

std::unique_ptr<Backend> make_cpu_backend(int threads, GemmPrecision precision) {
  ELBO_CHECK(precision != GemmPrecision::kTF32,
             "train.precision: tf32 is a format of NVIDIA's tensor cores; the CPU backend runs fp32 or bf16");
  if (precision == GemmPrecision::kBF16) {
    const std::string why_not = cpu_bf16_unavailable_reason();
    ELBO_CHECK(why_not.empty(), "train.precision: bf16 needs a CPU with AMX or AVX512-BF16, and " << why_not
                                                                                               << "; use fp32");
  }
  return std::make_unique<CpuBackend>(threads, precision == GemmPrecision::kBF16);
}

}  // namespace elbo
