// Element-wise kernels of the CUDA backend: each functor indexes exactly like the
// CPU backend's loop (src/backend/cpu/cpu_backend.cc) and calls the same shared
// function of kernels/math.h or kernels/philox.h for the arithmetic.
#include <cmath>

#include "cuda_kernels.h"
#include "cuda_launch.cuh"
#include "elbo/kernels/philox.h"

namespace elbo {
namespace cudak {
namespace {

struct FillOp {
  float* x;
  float value;
  __device__ void operator()(size_t i) const { x[i] = value; }
};
struct FillWeightOp {
  float* x;
  Weight w;
  __device__ void operator()(size_t i) const { x[i] = w.at(i); }
};
struct ScaleOp {
  float* x;
  float alpha;
  __device__ void operator()(size_t i) const { x[i] *= alpha; }
};
struct AxpyOp {
  float* y;
  const float* x;
  float alpha;
  __device__ void operator()(size_t i) const { y[i] += alpha * x[i]; }
};
struct BiasActOp {
  float* y;
  const float* bias;
  size_t cols;
  Activation act;
  __device__ void operator()(size_t i) const { y[i] = act_forward(act, y[i] + bias[i % cols]); }
};
// dx may be dy (in place): each element reads its own dy before writing its own dx, and
// no pointer here is __restrict (nor __ldg'd), so nvcc may not assume they differ.
struct ActBackwardOp {
  float* dx;
  const float* dy;
  const float* y;
  Activation act;
  __device__ void operator()(size_t i) const { dx[i] = dy[i] * act_grad_from_output(act, y[i]); }
};

// i = r * latent + j over the [rows, latent] outputs; stats rows are (mu | logvar).
struct ReparamOp {
  float* z;
  float* eps;
  const float* stats;
  size_t latent;
  NoiseKey key;
  __device__ void operator()(size_t i) const {
    const size_t r = i / latent, j = i % latent;
    const float* mu = stats + r * 2 * latent;
    const float e = philox_normal(key.seed, key.stream, key.first_serial() + r,
                                  key.element_offset + static_cast<uint32_t>(j));
    eps[i] = e;
    z[i] = elbo::reparameterize(mu[j], mu[latent + j], e);
  }
};
struct ReparamBackwardOp {
  float* dstats;
  const float* dz;
  const float* eps;
  const float* stats;
  size_t latent;
  __device__ void operator()(size_t i) const {
    const size_t r = i / latent, j = i % latent;
    const float logvar = stats[r * 2 * latent + latent + j];
    float* dmu = dstats + r * 2 * latent;
    dmu[j] += dz[i];
    dmu[latent + j] += dz[i] * reparameterize_grad_logvar(logvar, eps[i]);
  }
};
struct KlBackwardOp {
  float* dstats;
  const float* stats;
  size_t latent;
  Weight kl_weight;
  const float* dim_scale;
  __device__ void operator()(size_t i) const {
    const size_t r = i / latent, j = i % latent;
    const float weight = dim_scale ? kl_weight.at(r) * dim_scale[j] : kl_weight.at(r);
    const float* mu = stats + r * 2 * latent;
    float* dmu = dstats + r * 2 * latent;
    dmu[j] += weight * kl_std_normal_grad_mu(mu[j]);
    dmu[latent + j] += weight * kl_std_normal_grad_logvar(mu[latent + j]);
  }
};
struct BernoulliBackwardOp {
  float* dlogits;
  const float* logits;
  const float* x;
  size_t dim;
  Weight weight;
  __device__ void operator()(size_t i) const { dlogits[i] = weight.at(i / dim) * bernoulli_nll_grad(logits[i], x[i]); }
};
// i = r * dim + j; out rows are (mean | logvar), dout likewise.
struct GaussianBackwardOp {
  float* dout;
  const float* out;
  const float* x;
  size_t dim;
  Weight weight;
  __device__ void operator()(size_t i) const {
    const size_t r = i / dim, j = i % dim;
    const float* mean = out + r * 2 * dim;
    float* dmean = dout + r * 2 * dim;
    const float xv = x[i], mu = mean[j], logvar = mean[dim + j], w = weight.at(r);
    dmean[j] = w * gaussian_nll_grad_mu(xv, mu, logvar);
    dmean[dim + j] = w * gaussian_nll_grad_logvar(xv, mu, logvar);
  }
};
// i = r * dim + j; out rows are (mean | log-scale), dout likewise.
struct DlogisticBackwardOp {
  float* dout;
  const float* out;
  const float* x;
  size_t dim;
  Weight weight;
  __device__ void operator()(size_t i) const {
    const size_t r = i / dim, j = i % dim;
    const float* mean = out + r * 2 * dim;
    float* dmean = dout + r * 2 * dim;
    const float w = weight.at(r);
    const DlogisticNll t = dlogistic_nll(x[i], mean[j], mean[dim + j]);
    dmean[j] = w * t.dmu;
    dmean[dim + j] = w * t.dlog_scale;
  }
};
// i = r * latent + j over z; stats rows are (mu | logvar).
struct PriorMinusPosteriorBackwardOp {
  float* dz;
  float* dstats;
  const float* z;
  size_t latent;
  Weight weight;
  __device__ void operator()(size_t i) const {
    const size_t r = i / latent, j = i % latent;
    const float w = weight.at(r);
    dz[i] += w * log_prior_grad_z(z[i]);
    dstats[r * 2 * latent + latent + j] += w * kNegLogPosteriorGradLogvar;
  }
};
// i = r * k_count + k; out[r] is the row's log-mean-exp.
struct LogMeanExpBackwardOp {
  float* din;
  const float* in;
  const float* out;
  size_t k_count;
  float log_k;
  Weight weight;
  __device__ void operator()(size_t i) const {
    const size_t r = i / k_count;
    din[i] = weight.at(r) * log_mean_exp_grad(in[i], out[r], log_k);
  }
};
struct FreeBitsGateOp {
  float* gate;
  const float* sums;
  float inv_count, floor_nats;
  __device__ void operator()(size_t j) const { gate[j] = free_bits_gate(sums[j] * inv_count, floor_nats); }
};
// i runs over dst: row (r*times + t), column c, copied from src row r.
struct RepeatRowsOp {
  float* dst;
  const float* src;
  size_t cols;
  size_t times;
  __device__ void operator()(size_t i) const {
    const size_t out_row = i / cols, c = i % cols;
    dst[i] = src[(out_row / times) * cols + c];
  }
};
struct BinarizeOp {
  float* x;
  size_t dim;
  NoiseKey key;
  __device__ void operator()(size_t i) const {
    const size_t r = i / dim, j = i % dim;
    const float u = philox_uniform(key.seed, key.stream, key.first_serial() + r,
                                   key.element_offset + static_cast<uint32_t>(j));
    x[i] = u < x[i] ? 1.0f : 0.0f;
  }
};
struct AdamOp {
  float* params;
  const float* grads;
  float* m;
  float* v;
  AdamHyper hyper;
  const float* gate;
  __device__ void operator()(size_t i) const {
    if (gate && gate[UpdateGate::kSkip] != 0.0f) return;  // a skipped step changes nothing
    const float s = gate ? gate[UpdateGate::kScale] : 1.0f;
    adam_update(params + i, grads[i], m + i, v + i, resolve_adam_step(hyper), s);
  }
};
struct AddUnlessSkippedOp {
  float* y;
  const float* x;
  const float* gate;
  __device__ void operator()(size_t i) const {
    if (gate[UpdateGate::kSkip] == 0.0f) y[i] += x[i];
  }
};
struct EmaOp {
  float* ema;
  const float* params;
  float decay;
  const float* gate;
  __device__ void operator()(size_t i) const {
    if (gate && gate[UpdateGate::kSkip] != 0.0f) return;
    ema[i] = ema_value(ema[i], params[i], decay);
  }
};

// One thread: a handful of groups.
__global__ void kl_group_weights_kernel(float* weights, const float* sums, const float* dims, int groups,
                                        KlGroupRule rule) {
  kl_group_weights_of(weights, sums, dims, groups, rule);
}

// One thread: the rule is a handful of comparisons on two scalars.
__global__ void update_gate_kernel(float* gate, const float* sumsq, const float* health, UpdateRule rule) {
  decide_update(gate, sumsq[0], health ? health[0] : 0.0f, rule);
}

size_t count(int rows, int cols) { return size_t(rows < 0 ? 0 : rows) * size_t(cols < 0 ? 0 : cols); }

}  // namespace

void fill(cudaStream_t s, float* x, size_t n, float value) { for_each(s, n, FillOp{x, value}); }
void fill_weight(cudaStream_t s, float* x, size_t n, Weight w) { for_each(s, n, FillWeightOp{x, w}); }
void scale(cudaStream_t s, float* x, size_t n, float alpha) { for_each(s, n, ScaleOp{x, alpha}); }
void axpy(cudaStream_t s, float* y, const float* x, size_t n, float alpha) { for_each(s, n, AxpyOp{y, x, alpha}); }

void bias_act_forward(cudaStream_t s, float* y, const float* bias, int rows, int cols, Activation act) {
  for_each(s, count(rows, cols), BiasActOp{y, bias, size_t(cols), act});
}
void act_backward(cudaStream_t s, float* dx, const float* dy, const float* y, size_t n, Activation act) {
  for_each(s, n, ActBackwardOp{dx, dy, y, act});
}

void reparameterize(cudaStream_t s, float* z, float* eps, const float* stats, int rows, int latent,
                    const NoiseKey& key) {
  for_each(s, count(rows, latent), ReparamOp{z, eps, stats, size_t(latent), key});
}
void reparameterize_backward(cudaStream_t s, float* dstats, const float* dz, const float* eps, const float* stats,
                             int rows, int latent) {
  for_each(s, count(rows, latent), ReparamBackwardOp{dstats, dz, eps, stats, size_t(latent)});
}
void kl_backward(cudaStream_t s, float* dstats, const float* stats, int rows, int latent, Weight weight,
                 const float* dim_scale) {
  for_each(s, count(rows, latent), KlBackwardOp{dstats, stats, size_t(latent), weight, dim_scale});
}
void free_bits_gates(cudaStream_t s, float* gate, const float* sums, int latent, float inv_count, float floor_nats) {
  for_each(s, count(1, latent), FreeBitsGateOp{gate, sums, inv_count, floor_nats});
}
void bernoulli_nll_backward(cudaStream_t s, float* dlogits, const float* logits, const float* x, int rows, int dim,
                            Weight weight) {
  for_each(s, count(rows, dim), BernoulliBackwardOp{dlogits, logits, x, size_t(dim < 1 ? 1 : dim), weight});
}
void gaussian_nll_backward(cudaStream_t s, float* dout, const float* out, const float* x, int rows, int dim,
                           Weight weight) {
  for_each(s, count(rows, dim), GaussianBackwardOp{dout, out, x, size_t(dim), weight});
}
void dlogistic_nll_backward(cudaStream_t s, float* dout, const float* out, const float* x, int rows, int dim,
                            Weight weight) {
  for_each(s, count(rows, dim), DlogisticBackwardOp{dout, out, x, size_t(dim), weight});
}
void prior_minus_posterior_backward(cudaStream_t s, float* dz, float* dstats, const float* z, int rows, int latent,
                                    Weight weight) {
  for_each(s, count(rows, latent), PriorMinusPosteriorBackwardOp{dz, dstats, z, size_t(latent), weight});
}
void log_mean_exp_rows_backward(cudaStream_t s, float* din, const float* in, const float* out, int rows, int k_count,
                                Weight weight) {
  const float log_k = float(std::log(double(k_count)));  // as the CPU backend computes it
  for_each(s, count(rows, k_count), LogMeanExpBackwardOp{din, in, out, size_t(k_count), log_k, weight});
}
void repeat_rows(cudaStream_t s, float* dst, const float* src, int rows, int cols, int times) {
  for_each(s, count(rows, times) * size_t(cols < 0 ? 0 : cols), RepeatRowsOp{dst, src, size_t(cols), size_t(times)});
}
void binarize(cudaStream_t s, float* x, int rows, int dim, const NoiseKey& key) {
  for_each(s, count(rows, dim), BinarizeOp{x, size_t(dim), key});
}
void kl_group_weights(cudaStream_t s, float* weights, const float* sums, const float* dims, int groups,
                      const KlGroupRule& rule) {
  kl_group_weights_kernel<<<1, 1, 0, s>>>(weights, sums, dims, groups, rule);
  CUDA_CHECK_LAUNCH();
}
void update_gate(cudaStream_t s, float* gate, const float* sumsq, const float* health, const UpdateRule& rule) {
  update_gate_kernel<<<1, 1, 0, s>>>(gate, sumsq, health, rule);
  CUDA_CHECK_LAUNCH();
}
void adam_step(cudaStream_t s, float* params, const float* grads, float* m, float* v, size_t n,
               const AdamHyper& hyper, const float* gate) {
  for_each(s, n, AdamOp{params, grads, m, v, hyper, gate});
}
void add_unless_skipped(cudaStream_t s, float* y, const float* x, size_t n, const float* gate) {
  for_each(s, n, AddUnlessSkippedOp{y, x, gate});
}
void ema_update(cudaStream_t s, float* ema, const float* params, size_t n, float decay, const float* gate) {
  for_each(s, n, EmaOp{ema, params, decay, gate});
}

}  // namespace cudak
}  // namespace elbo
