// The arithmetic of every element-wise op, written once for both backends.
// Numerically stable forms throughout: BCE from logits never forms log(sigmoid),
// softplus and sigmoid never overflow exp().
#pragma once
#include <cmath>
#include <cstdint>

#include "elbo/kernels/hd.h"

namespace elbo {

enum class Activation : int { kIdentity = 0, kReLU = 1, kTanh = 2, kSigmoid = 3, kLeakyReLU = 4, kELU = 5 };

constexpr float kLog2Pi = 1.8378770664093453f;
constexpr float kLeakySlope = 0.01f;

ELBO_HD float stable_sigmoid(float x) {
  if (x >= 0.0f) {
    float e = expf(-x);
    return 1.0f / (1.0f + e);
  }
  float e = expf(x);
  return e / (1.0f + e);
}

// log(1 + exp(x)) without overflow.
ELBO_HD float stable_softplus(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }

ELBO_HD float act_forward(Activation a, float x) {
  switch (a) {
    case Activation::kReLU: return x > 0.0f ? x : 0.0f;
    case Activation::kTanh: return tanhf(x);
    case Activation::kSigmoid: return stable_sigmoid(x);
    case Activation::kLeakyReLU: return x > 0.0f ? x : kLeakySlope * x;
    case Activation::kELU: return x > 0.0f ? x : expm1f(x);
    default: return x;
  }
}

// Derivative expressed through the activation's output y, so a layer keeps only
// its output for backward (all activations here are monotone, which makes this exact).
ELBO_HD float act_grad_from_output(Activation a, float y) {
  switch (a) {
    case Activation::kReLU: return y > 0.0f ? 1.0f : 0.0f;
    case Activation::kTanh: return 1.0f - y * y;
    case Activation::kSigmoid: return y * (1.0f - y);
    case Activation::kLeakyReLU: return y > 0.0f ? 1.0f : kLeakySlope;
    case Activation::kELU: return y > 0.0f ? 1.0f : y + 1.0f;
    default: return 1.0f;
  }
}

// -log Bernoulli(x | sigmoid(l)) = softplus(l) - x*l, for x in [0,1].
ELBO_HD float bernoulli_nll(float logit, float x) {
  return fmaxf(logit, 0.0f) - logit * x + log1pf(expf(-fabsf(logit)));
}
ELBO_HD float bernoulli_nll_grad(float logit, float x) { return stable_sigmoid(logit) - x; }

// -log N(x | mu, exp(logvar))
ELBO_HD float gaussian_nll(float x, float mu, float logvar) {
  float d = x - mu;
  return 0.5f * (kLog2Pi + logvar + d * d * expf(-logvar));
}
ELBO_HD float gaussian_nll_grad_mu(float x, float mu, float logvar) { return (mu - x) * expf(-logvar); }
ELBO_HD float gaussian_nll_grad_logvar(float x, float mu, float logvar) {
  float d = x - mu;
  return 0.5f * (1.0f - d * d * expf(-logvar));
}

// KL( N(mu, exp(logvar)) || N(0, 1) ) for one dimension.
ELBO_HD float kl_std_normal(float mu, float logvar) {
  return 0.5f * (mu * mu + expf(logvar) - 1.0f - logvar);
}
ELBO_HD float kl_std_normal_grad_mu(float mu) { return mu; }
ELBO_HD float kl_std_normal_grad_logvar(float logvar) { return 0.5f * (expf(logvar) - 1.0f); }

// z = mu + sigma * eps, sigma = exp(logvar / 2)
ELBO_HD float reparameterize(float mu, float logvar, float eps) { return mu + expf(0.5f * logvar) * eps; }
ELBO_HD float reparameterize_grad_logvar(float logvar, float eps) { return 0.5f * eps * expf(0.5f * logvar); }

// log N(z | mu, exp(logvar)) and log N(z | 0, 1): the terms of an importance weight.
ELBO_HD float gaussian_log_density(float z, float mu, float logvar) { return -gaussian_nll(z, mu, logvar); }
ELBO_HD float std_normal_log_density(float z) { return -0.5f * (kLog2Pi + z * z); }

struct AdamHyper {
  float lr;
  float beta1;
  float beta2;
  float eps;
  float weight_decay;  // L2 (Adam) or decoupled (AdamW)
  bool decoupled;      // true: AdamW
  float bias_correction1;  // 1 - beta1^t
  float bias_correction2;  // 1 - beta2^t
};

struct AdamState {
  float p, m, v;
};

// One Adam/AdamW update of one parameter, by value (so CPU loops vectorise);
// grad_scale carries gradient clipping.
ELBO_HD AdamState adam_update_value(AdamState s, float g, const AdamHyper& h, float grad_scale) {
  g *= grad_scale;
  if (!h.decoupled) g += h.weight_decay * s.p;
  s.m = h.beta1 * s.m + (1.0f - h.beta1) * g;
  s.v = h.beta2 * s.v + (1.0f - h.beta2) * g * g;
  const float mhat = s.m / h.bias_correction1;
  const float vhat = s.v / h.bias_correction2;
  float update = mhat / (sqrtf(vhat) + h.eps);
  if (h.decoupled) update += h.weight_decay * s.p;
  s.p -= h.lr * update;
  return s;
}

ELBO_HD void adam_update(float* p, float g, float* m, float* v, const AdamHyper& h, float grad_scale) {
  AdamState s = adam_update_value(AdamState{*p, *m, *v}, g, h, grad_scale);
  *p = s.p;
  *m = s.m;
  *v = s.v;
}

// Scale that brings the global gradient norm down to max_norm (1 when under it or off).
ELBO_HD float clip_scale_from_sumsq(float sumsq, float max_norm) {
  if (max_norm <= 0.0f) return 1.0f;
  float norm = sqrtf(sumsq);
  return norm > max_norm ? max_norm / (norm + 1e-6f) : 1.0f;
}

}  // namespace elbo
