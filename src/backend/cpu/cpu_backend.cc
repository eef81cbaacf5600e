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
#include "onednn_conv.h"
#include "partitioned_gemm.h"
#include "worker_pool.h"

namespace elbo {
namespace {

template <Activation A>
struct ActivationConstant {
  static constexpr Activation value = A;
};

// Calls f with the activation as a compile-time constant, so the per-element switch
// in act_forward folds away and the loop vectorises.
template <typename F>
void with_activation(Activation act, F&& f) {
  switch (act) {
    case Activation::kReLU: return f(ActivationConstant<Activation::kReLU>{});
    case Activation::kTanh: return f(ActivationConstant<Activation::kTanh>{});
    case Activation::kSigmoid: return f(ActivationConstant<Activation::kSigmoid>{});
    case Activation::kLeakyReLU: return f(ActivationConstant<Activation::kLeakyReLU>{});
    case Activation::kELU: return f(ActivationConstant<Activation::kELU>{});
    default: return f(ActivationConstant<Activation::kIdentity>{});
  }
}

// Sum of f(0..n-1) in double over eight interleaved lanes, combined in a fixed order:
// deterministic, and (unlike one running sum, whose order the compiler must keep) it
// vectorises.
template <typename F>
double lane_sum(size_t n, F&& f) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lane[l] += double(f(i + l));
  for (; i < n; ++i) lane[i % 8] += double(f(i));
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

// Philox draws for counters q0 .. q0+count-1 of one stream row, written as four words
// per draw (word w of draw q at words[4 (q - q0) + w]): each draw computed once for the
// four consecutive elements that share it (philox_uniform's convention).
void philox_row_words(uint32_t* words, uint64_t seed, uint32_t stream, uint64_t a, uint32_t q0, uint32_t count) {
  for (uint32_t q = 0; q < count; ++q) {
    const Philox4 d = philox_draw(seed, stream, a, q0 + q);
    for (int w = 0; w < 4; ++w) words[4 * size_t(q) + w] = d.x[w];
  }
}

// Below this many elements per part a loop stays on one thread.
constexpr size_t kMinElementsPerPart = 32768;

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : pool_(threads), conv_(pool_) {}

  Device device() const override { return Device{DeviceType::kCPU, 0}; }
  std::string name() const override {
    return "cpu (oneDNN, " + std::to_string(pool_.threads()) + (pool_.threads() == 1 ? " thread)" : " threads)");
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
  }
  void synchronize() override {}

  void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, const float* b, float beta,
            float* c) override {
    const GemmArgs g{trans_a, trans_b, m, n, k, alpha, a, b, beta, c};
    partitioned_sgemm(pool_, &g, 1);
  }
  void gemm_pair(const GemmArgs& first, const GemmArgs& second) override {
    const GemmArgs both[2] = {first, second};
    partitioned_sgemm(pool_, both, 2);
  }

  void bias_act_forward(float* y, const float* bias, int rows, int cols, Activation act) override {
    with_activation(act, [&](auto a) {
      over_rows(rows, cols, [&](size_t r0, size_t r1) {
        const int n = cols;
        const float* __restrict b = bias;
        for (size_t r = r0; r < r1; ++r) {
          float* __restrict row = y + r * n;
          for (int c = 0; c < n; ++c) row[c] = act_forward(a.value, row[c] + b[c]);
        }
      });
    });
  }
  void act_backward(float* dx, const float* dy, const float* y, size_t n, Activation act) override {
    with_activation(act, [&](auto a) {
      over_elements(n, [&](size_t b, size_t e) {
        const float* __restrict act_out = y;
        if (dx == dy) {
          // In place (Linear::backward): dx and dy declared __restrict would be undefined
          // behaviour; one pointer read and written per element vectorises alike.
          float* __restrict g = dx;
          for (size_t i = b; i < e; ++i) g[i] *= act_grad_from_output(a.value, act_out[i]);
        } else {
          float* __restrict out = dx;
          const float* __restrict grad = dy;
          for (size_t i = b; i < e; ++i) out[i] = grad[i] * act_grad_from_output(a.value, act_out[i]);
        }
      });
    });
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

  void reparameterize(float* z, float* eps, const float* stats, int rows, int latent, const NoiseKey& key) override {
    for (int r = 0; r < rows; ++r) {
      const float* mu = stats + size_t(r) * 2 * latent;
      const float* logvar = mu + latent;
      PhiloxRowCache rng{key.seed, key.stream, key.first_serial() + r};
      for (int j = 0; j < latent; ++j) {
        size_t i = size_t(r) * latent + j;
        eps[i] = rng.normal(key.element_offset + j);
        z[i] = elbo::reparameterize(mu[j], logvar[j], eps[i]);
      }
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
  void kl_backward(float* dstats, const float* stats, int rows, int latent, Weight kl_weight) override {
    const float weight = kl_weight.get();
    for (int r = 0; r < rows; ++r) {
      const float* mu = stats + size_t(r) * 2 * latent;
      const float* logvar = mu + latent;
      float* dmu = dstats + size_t(r) * 2 * latent;
      float* dlogvar = dmu + latent;
      for (int j = 0; j < latent; ++j) {
        dmu[j] += weight * kl_std_normal_grad_mu(mu[j]);
        dlogvar[j] += weight * kl_std_normal_grad_logvar(logvar[j]);
      }
    }
  }

  void bernoulli_nll_forward(float* nll, const float* logits, const float* x, int rows, int dim) override {
    // Element values first (a loop that vectorises), then their deterministic lane sum.
    over_rows(rows, dim, [&](size_t r0, size_t r1) {
      std::vector<float> terms(size_t(std::max(dim, 0)));
      float* __restrict t = terms.data();
      for (size_t r = r0; r < r1; ++r) {
        const float* __restrict l = logits + r * dim;
        const float* __restrict xr = x + r * dim;
        for (int j = 0; j < dim; ++j) t[j] = bernoulli_nll(l[j], xr[j]);
        nll[r] = float(lane_sum(size_t(dim), [&](size_t j) { return t[j]; }));
      }
    });
  }
  void bernoulli_nll_backward(float* dlogits, const float* logits, const float* x, int rows, int dim,
                              float weight) override {
    over_elements(size_t(rows) * dim, [&](size_t b, size_t e) {
      float* __restrict d = dlogits;
      const float* __restrict l = logits;
      const float* __restrict xr = x;
      const float w = weight;
      for (size_t i = b; i < e; ++i) d[i] = w * bernoulli_nll_grad(l[i], xr[i]);
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
  void gaussian_nll_backward(float* dout, const float* out, const float* x, int rows, int dim, float weight) override {
    for (int r = 0; r < rows; ++r) {
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
        philox_row_words(words.data(), key.seed, key.stream, serial0 + r, q0, draws);
        const uint32_t* __restrict w = words.data() + (first & 3u);
        for (int j = 0; j < dim; ++j) row[j] = philox_u32_to_unit(w[j]) < row[j] ? 1.0f : 0.0f;
      }
    });
  }

  void sum(float* out, const float* x, size_t n) override {
    out[0] = float(lane_sum(n, [&](size_t i) { return x[i]; }));
  }
  void sum_squares(float* out, const float* x, size_t n) override {
    out[0] = float(lane_sum(n, [&](size_t i) { return double(x[i]) * x[i]; }));
  }
  void all_finite(float* out, const float* x, size_t n) override {
    bool ok = true;
    for (size_t i = 0; i < n && ok; ++i) ok = std::isfinite(x[i]);
    out[0] = ok ? 1.0f : 0.0f;
  }

  void clip_scale(float* scale_out, const float* sumsq, float max_norm) override {
    scale_out[0] = clip_scale_from_sumsq(sumsq[0], max_norm);
  }
  void adam_step(float* params, const float* grads, float* m, float* v, size_t n, const AdamHyper& hyper,
                 const float* grad_scale) override {
    const float scale = grad_scale ? grad_scale[0] : 1.0f;
    over_elements(n, [&](size_t b, size_t e) {
      // Local copies: through captured references the compiler would have to assume
      // the stores to p, m, v change them, and could not vectorise.
      const AdamHyper h = resolve_adam_step(hyper);
      const float s = scale;
      float* __restrict p = params;
      float* __restrict mm = m;
      float* __restrict vv = v;
      const float* __restrict g = grads;
      for (size_t i = b; i < e; ++i) {
        AdamState st = adam_update_value(AdamState{p[i], mm[i], vv[i]}, g[i], h, s);
        p[i] = st.p;
        mm[i] = st.m;
        vv[i] = st.v;
      }
    });
  }

 private:
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
  OnednnConv conv_;  // after pool_, which it uses
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

}  // namespace elbo
