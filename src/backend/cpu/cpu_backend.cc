// CPU backend: OpenBLAS for GEMM, plain loops over the shared arithmetic of
// kernels/math.h for everything else. Reductions accumulate in double, in index
// order, so results are deterministic and independent of thread counts.
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "elbo/backend.h"
#include "elbo/kernels/philox.h"

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

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device{DeviceType::kCPU, 0}; }
  std::string name() const override { return "cpu (OpenBLAS)"; }

  float* alloc(size_t n) override { return new float[n](); }
  void release(float* p) override { delete[] p; }
  void copy_to_device(float* dst, const float* src, size_t n) override { copy(dst, src, n); }
  void copy_to_host(float* dst, const float* src, size_t n) override { copy(dst, src, n); }
  void copy(float* dst, const float* src, size_t n) override {
    if (n && dst != src) std::memmove(dst, src, n * sizeof(float));
  }
  void fill(float* x, size_t n, float value) override {
    if (value == 0.0f) {
      std::memset(x, 0, n * sizeof(float));
      return;
    }
    for (size_t i = 0; i < n; ++i) x[i] = value;
  }
  void synchronize() override {}

  void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, const float* b, float beta,
            float* c) override {
    // Leading dimensions of at least 1: BLAS rejects 0 even when k = 0 (then C = beta C).
    const int lda = std::max(1, trans_a ? m : k);
    const int ldb = std::max(1, trans_b ? k : n);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, a, lda, b, ldb, beta, c, std::max(1, n));
  }

  void bias_act_forward(float* y, const float* bias, int rows, int cols, Activation act) override {
    with_activation(act, [&](auto a) {
      for (int r = 0; r < rows; ++r) {
        float* __restrict row = y + size_t(r) * cols;
        for (int c = 0; c < cols; ++c) row[c] = act_forward(a.value, row[c] + bias[c]);
      }
    });
  }
  void act_backward(float* dx, const float* dy, const float* y, size_t n, Activation act) override {
    with_activation(act, [&](auto a) {
      for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * act_grad_from_output(a.value, y[i]);
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
    for (size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
  }
  void scale(float* x, size_t n, float alpha) override {
    for (size_t i = 0; i < n; ++i) x[i] *= alpha;
  }

  void reparameterize(float* z, float* eps, const float* stats, int rows, int latent, const NoiseKey& key) override {
    for (int r = 0; r < rows; ++r) {
      const float* mu = stats + size_t(r) * 2 * latent;
      const float* logvar = mu + latent;
      PhiloxRowCache rng{key.seed, key.stream, key.row_serial0 + r};
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
  void kl_backward(float* dstats, const float* stats, int rows, int latent, float weight) override {
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
    for (int r = 0; r < rows; ++r) {
      const float* l = logits + size_t(r) * dim;
      const float* xr = x + size_t(r) * dim;
      double acc = 0.0;
      for (int j = 0; j < dim; ++j) acc += bernoulli_nll(l[j], xr[j]);
      nll[r] = float(acc);
    }
  }
  void bernoulli_nll_backward(float* dlogits, const float* logits, const float* x, int rows, int dim,
                              float weight) override {
    size_t n = size_t(rows) * dim;
    for (size_t i = 0; i < n; ++i) dlogits[i] = weight * bernoulli_nll_grad(logits[i], x[i]);
  }
  void gaussian_nll_forward(float* nll, const float* out, const float* x, int rows, int dim) override {
    for (int r = 0; r < rows; ++r) {
      const float* mean = out + size_t(r) * 2 * dim;
      const float* logvar = mean + dim;
      const float* xr = x + size_t(r) * dim;
      double acc = 0.0;
      for (int j = 0; j < dim; ++j) acc += gaussian_nll(xr[j], mean[j], logvar[j]);
      nll[r] = float(acc);
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
    for (int r = 0; r < rows; ++r) {
      float* row = x + size_t(r) * dim;
      PhiloxRowCache rng{key.seed, key.stream, key.row_serial0 + r};
      for (int j = 0; j < dim; ++j) row[j] = rng.uniform(key.element_offset + j) < row[j] ? 1.0f : 0.0f;
    }
  }

  void sum(float* out, const float* x, size_t n) override {
    double acc = 0.0;
    for (size_t i = 0; i < n; ++i) acc += x[i];
    out[0] = float(acc);
  }
  void sum_squares(float* out, const float* x, size_t n) override {
    // Eight independent lanes (fixed order, so deterministic) let the loop vectorise.
    double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int l = 0; l < 8; ++l) lane[l] += double(x[i + l]) * x[i + l];
    for (; i < n; ++i) lane[0] += double(x[i]) * x[i];
    out[0] = float(((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7])));
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
    const float s = grad_scale ? grad_scale[0] : 1.0f;
    float* __restrict p = params;
    float* __restrict mm = m;
    float* __restrict vv = v;
    const float* __restrict g = grads;
    const AdamHyper h = hyper;
    for (size_t i = 0; i < n; ++i) {
      AdamState st = adam_update_value(AdamState{p[i], mm[i], vv[i]}, g[i], h, s);
      p[i] = st.p;
      mm[i] = st.m;
      vv[i] = st.v;
    }
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace elbo
