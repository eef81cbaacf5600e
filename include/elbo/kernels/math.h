// The arithmetic of every element-wise op, written once for both backends.
// Numerically stable forms throughout: BCE from logits never forms log(sigmoid),
// softplus and sigmoid never overflow exp().
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "elbo/kernels/hd.h"

namespace elbo {

enum class Activation : int {
  kIdentity = 0, kReLU = 1, kTanh = 2, kSigmoid = 3, kLeakyReLU = 4, kELU = 5,
  // Not monotone (swish, gelu) or better conditioned from the input (softplus): their
  // derivative comes from the activation's input (act_grad_from_input), never its output.
  kSwish = 6, kSoftplus = 7, kGELU = 8
};

constexpr float kLog2Pi = 1.8378770664093453f;
constexpr float kLeakySlope = 0.01f;

// Reinterprets the bits of an int as a float (a register move on both backends).
ELBO_HD float int_bits_as_float(int32_t i) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(i);
#else
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
#endif
}

// The bits of a float as an int (a register move on both backends).
ELBO_HD int32_t float_bits_as_int(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_int(f);
#else
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
#endif
}

// x rounded to bfloat16 (the upper 16 bits of a float), to nearest with ties to even, as
// oneDNN and the tensor cores round: the inputs of train.precision: bf16 products. NaN
// stays a (quiet) NaN; values beyond bf16's range round to infinity.
ELBO_HD uint16_t float_to_bf16_bits(float x) {
  const uint32_t bits = uint32_t(float_bits_as_int(x));
  // Branch-free (a select), so that loops over arrays of floats vectorise.
  const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (bits >> 16) | 0x0040u;
  return uint16_t((bits & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

// Whether x is neither NaN nor infinite, from its exponent bits (immune to any
// floating-point mode that would let the compiler assume finite values).
ELBO_HD bool float_is_finite(float x) {
  const uint32_t bits = uint32_t(float_bits_as_int(x));
  return (bits & 0x7f800000u) != 0x7f800000u;
}

// exp(x) for x <= 0, without a library call, so that CPU loops over it vectorise and
// both backends round the same way. Range reduction x = k ln2 + r, |r| <= ln2/2, with
// ln2 split in two (Cody-Waite) so k ln2 is exact; exp(r) by the minimax polynomial of
// Cephes' expf (relative error about 1 ulp); 2^k assembled in the exponent bits.
// Below -87 (where exp(x) is under FLT_MIN) the result is 0; NaN stays NaN.
ELBO_HD float exp_nonpositive(float x) {
  const float xc = x > -87.0f ? x : -87.0f;
  const float round_shift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float kf = (xc * 1.44269504088896341f + round_shift) - round_shift;
  float r = xc - kf * 0.693359375f;  // ln2's high part, exact in few bits
  r = r - kf * -2.12194440e-4f;      // ln2's low part
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  const float two_k = int_bits_as_float((static_cast<int32_t>(kf) + 127) << 23);
  const float y = x < -87.0f ? 0.0f : er * two_k;
  return x != x ? x : y;
}

// log(1 + t) for t in [0, 1], without a library call: log1p(t) = 2 atanh(s) with
// s = t / (2 + t) in [0, 1/3], computed without cancellation for small t, and the
// odd series of atanh to s^13 (the next term is below 2^-26 relative).
ELBO_HD float log1p_unit(float t) {
  const float s = t / (2.0f + t);
  const float w = s * s;
  float p = 1.0f / 13.0f;
  p = p * w + 1.0f / 11.0f;
  p = p * w + 1.0f / 9.0f;
  p = p * w + 1.0f / 7.0f;
  p = p * w + 1.0f / 5.0f;
  p = p * w + 1.0f / 3.0f;
  return 2.0f * s + 2.0f * s * (w * p);
}

// log(x) for a positive normal float, without a library call, so that loops over it
// vectorise (Box-Muller's logarithm of a uniform in (0, 1), kernels/philox.h). Cephes'
// logf: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(1 + t) for t = m - 1 (exact) as
// t - t^2 / 2 + t^3 P(t), then e ln2 added in two parts (about 1 ulp). Zero, negative,
// denormal, infinite and NaN arguments are outside its domain: the caller has none.
ELBO_HD float log_positive_normal(float x) {
  const int32_t bits = float_bits_as_int(x);
  const int32_t e_half = ((bits >> 23) & 0xff) - 126;  // x = m 2^e_half, m in [0.5, 1)
  const float m = int_bits_as_float((bits & 0x007fffff) | 0x3f000000);
  const bool low = m < 0.707106781186547524f;
  const float e = float(low ? e_half - 1 : e_half);
  const float t = low ? (m + m) - 1.0f : m - 1.0f;  // both exact
  const float z = t * t;
  float p = 7.0376836292e-2f;
  p = p * t - 1.1514610310e-1f;
  p = p * t + 1.1676998740e-1f;
  p = p * t - 1.2420140846e-1f;
  p = p * t + 1.4249322787e-1f;
  p = p * t - 1.6668057665e-1f;
  p = p * t + 2.0000714765e-1f;
  p = p * t - 2.4999993993e-1f;
  p = p * t + 3.3333331174e-1f;
  float y = p * t * z;
  y += e * -2.12194440e-4f;  // ln2's low part
  y += -0.5f * z;
  return (t + y) + e * 0.693359375f;  // ln2's high part: e times it is exact
}

// cos(2 pi u) for u in [0, 1], without a library call (Box-Muller's angle). The
// reduction is exact: a = min(u, 1 - u) in [0, 1/2], then r = a, a - 1/4 or 1/2 - a in
// [-1/8, 1/8] (Sterbenz), and cos(2 pi a) is cos(2 pi r), -sin(2 pi r) or -cos(2 pi r);
// sin and cos of x = 2 pi r in [-pi/4, pi/4] by Cephes' sinf / cosf polynomials. Both
// are computed and one selected, so that loops vectorise.
ELBO_HD float cos_two_pi(float u) {
  const float a = u < 0.5f ? u : 1.0f - u;
  const bool near_zero = a <= 0.125f, near_half = a > 0.375f;
  const float r = near_zero ? a : (near_half ? 0.5f - a : a - 0.25f);
  const float x = 6.283185307179586f * r;
  const float z = x * x;
  const float c = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z -
                  0.5f * z + 1.0f;
  const float s = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * x + x;
  return near_zero ? c : (near_half ? -c : -s);
}

// sigmoid(x) = 1 / (1 + exp(-x)), never overflowing: exp(-|x|) is at most 1.
ELBO_HD float stable_sigmoid(float x) {
  const float t = exp_nonpositive(-fabsf(x));
  const float inv = 1.0f / (1.0f + t);
  return x >= 0.0f ? inv : t * inv;
}

// tanh(x) without a library call (glibc's tanhf calls expm1f and takes a quarter of a
// tanh MLP's step; this one vectorises). Both branches are computed and one selected,
// as Cephes' tanhf chooses: below |x| = 0.625 the odd minimax polynomial
// x + x^3 P(x^2) (relative error about 1e-7); above it 1 - 2e / (1 + e) with
// e = exp(-2|x|) <= 0.29, which cannot cancel. At most 1.5 ulp from the exact value (an
// exhaustive sweep of [2^-23, 10]; the unit test allows 2^-22 relative); |x| > 44
// gives +-1 exactly, -0 stays -0 and NaN stays NaN.
ELBO_HD float tanh_without_libm(float x) {
  const float z = fabsf(x);
  const float w = x * x;
  float p = -5.70498872745e-3f;
  p = p * w + 2.06390887954e-2f;
  p = p * w - 5.37397155531e-2f;
  p = p * w + 1.33314422036e-1f;
  p = p * w - 3.33332819422e-1f;
  const float small = p * w * z + z;
  const float e = exp_nonpositive(-2.0f * z);
  const float large = 1.0f - 2.0f * e / (1.0f + e);
  return copysignf(z < 0.625f ? small : large, x);  // odd to the bit
}

// log(1 + exp(x)) without overflow.
ELBO_HD float stable_softplus(float x) { return (x > 0.0f ? x : 0.0f) + log1p_unit(exp_nonpositive(-fabsf(x))); }

ELBO_HD float act_forward(Activation a, float x) {
  switch (a) {
    case Activation::kReLU: return x > 0.0f ? x : 0.0f;
    case Activation::kTanh: return tanh_without_libm(x);
    case Activation::kSigmoid: return stable_sigmoid(x);
    case Activation::kLeakyReLU: return x > 0.0f ? x : kLeakySlope * x;
    case Activation::kELU: return x > 0.0f ? x : expm1f(x);
    case Activation::kSwish: return x * stable_sigmoid(x);
    case Activation::kSoftplus: return stable_softplus(x);
    case Activation::kGELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));  // x * Phi(x), exact
    default: return x;
  }
}

// Whether act' must be computed from the activation's input: the output of swish and gelu
// does not determine it (they are not monotone), and softplus' from its output would be
// 1 - exp(-y), which cancels for large negative inputs. Layers keep the input for these.
ELBO_HD constexpr bool act_grad_needs_input(Activation a) {
  return a == Activation::kSwish || a == Activation::kSoftplus || a == Activation::kGELU;
}

// act'(x), from the activation's input; defined for every activation.
ELBO_HD float act_grad_from_input(Activation a, float x) {
  switch (a) {
    case Activation::kReLU: return x > 0.0f ? 1.0f : 0.0f;
    case Activation::kTanh: { const float t = tanh_without_libm(x); return 1.0f - t * t; }
    case Activation::kSigmoid: { const float s = stable_sigmoid(x); return s * (1.0f - s); }
    case Activation::kLeakyReLU: return x > 0.0f ? 1.0f : kLeakySlope;
    case Activation::kELU: return x > 0.0f ? 1.0f : expf(x);
    case Activation::kSwish: { const float s = stable_sigmoid(x); return s * (1.0f + x * (1.0f - s)); }
    case Activation::kSoftplus: return stable_sigmoid(x);
    case Activation::kGELU:  // Phi(x) + x phi(x)
      return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) + x * 0.39894228040143268f * expf(-0.5f * x * x);
    default: return 1.0f;
  }
}

// Derivative expressed through the activation's output y, so a layer keeps only
// its output for backward (exact for the monotone activations, those for which
// act_grad_needs_input is false; the others must not come here).
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
ELBO_HD float bernoulli_nll(float logit, float x) { return stable_softplus(logit) - logit * x; }
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

// -log of the discretized logistic (PixelCNN++, Salimans et al. 2017) of an 8-bit value
// scaled to [0, 1], x = k / 255: the mass that logistic(mu, s = exp(log_scale)) gives the
// bin [x - 1/510, x + 1/510], the bins of 0 and 1 extended to -inf and +inf. With
// a = (x - mu + 1/510) / s and b = (x - mu - 1/510) / s, the interior bin's log-mass is
//   log(sigmoid(a) - sigmoid(b)) = a + log(-expm1(b - a)) - softplus(a) - softplus(b),
// finite for every a > b (no difference of two probabilities near 1 or 0). log_scale is
// held at -7 from below, as in PixelCNN++ (no gradient there).
constexpr float kDlogisticBinHalf = 0.5f / 255.0f;
constexpr float kDlogisticMinLogScale = -7.0f;
struct DlogisticNll {
  float nll, dmu, dlog_scale;  // the value and its gradients
};
ELBO_HD DlogisticNll dlogistic_nll(float x, float mu, float log_scale) {
  const bool held = log_scale < kDlogisticMinLogScale;
  const float inv_s = expf(-(held ? kDlogisticMinLogScale : log_scale));
  const float a = inv_s * (x - mu + kDlogisticBinHalf), b = inv_s * (x - mu - kDlogisticBinHalf);
  if (x < kDlogisticBinHalf) {  // the bin of 0: -log sigmoid(a); d/da = -sigmoid(-a)
    const float da = -stable_sigmoid(-a);
    return {stable_softplus(-a), -inv_s * da, held ? 0.0f : -a * da};
  }
  if (x > 1.0f - kDlogisticBinHalf) {  // the bin of 1: -log(1 - sigmoid(b)); d/db = sigmoid(b)
    const float db = stable_sigmoid(b);
    return {stable_softplus(b), -inv_s * db, held ? 0.0f : -b * db};
  }
  // w = a - b, from the scale alone: as the difference of a and b (both of size |x - mu| / s)
  // it would keep only a few digits when the bin is narrow against s. With r = 1 / expm1(w),
  // d nll / da = -(sigmoid(-a) + r) and d nll / db = sigmoid(b) + r; the r terms cancel
  // exactly in both gradients, so they are written without them (summing them first would
  // lose the digits of the difference, and differently where the compiler fuses
  // multiply-adds: the CUDA build does, the CPU build does not).
  const float w = 2.0f * kDlogisticBinHalf * inv_s;
  const float nll = -(a + logf(-expm1f(-w)) - stable_softplus(a) - stable_softplus(b));
  const float sa = stable_sigmoid(-a), sb = stable_sigmoid(b);
  return {nll, inv_s * (sa - sb), held ? 0.0f : a * sa - b * sb + w / expm1f(w)};
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
// Gradients of log w = log p(z) - log q(z|x) + ... with z = mu + sigma * eps (eps fixed):
// log p(z) = -(log 2pi + z^2) / 2 gives -z with respect to z; log q(z|x) = log N(eps; 0, 1)
// - logvar / 2 depends on logvar alone, so -log q gives +1/2 with respect to logvar.
ELBO_HD float log_prior_grad_z(float z) { return -z; }
constexpr float kNegLogPosteriorGradLogvar = 0.5f;
// log q(z|x) for z = mu + sigma * eps, one dimension: log N(eps; 0, 1) - logvar / 2.
ELBO_HD float posterior_log_density_term(float eps, float logvar) {
  return std_normal_log_density(eps) - 0.5f * logvar;
}
// log N(z; mu, exp(logvar)) given inv_var = exp(-logvar), and its derivatives: the terms of
// a sample's density under each component of a Gaussian mixture (VampPrior).
ELBO_HD float gaussian_log_density_iv(float z, float mu, float logvar, float inv_var) {
  const float d = z - mu;
  return -0.5f * (kLog2Pi + logvar + d * d * inv_var);
}
ELBO_HD float gaussian_log_density_grad_z(float z, float mu, float inv_var) { return (mu - z) * inv_var; }
ELBO_HD float gaussian_log_density_grad_logvar(float z, float mu, float inv_var) {
  const float d = z - mu;
  return 0.5f * (d * d * inv_var - 1.0f);
}

// d/dl_t of log((1/k) sum_s exp(l_s)) = exp(l_t - lse): the normalised importance weight
// of sample t, from lme = log mean exp (so lse = lme + log k); the exponent is <= 0.
ELBO_HD float log_mean_exp_grad(float l, float lme, float log_k) {
  const float e = l - lme - log_k;
  return exp_nonpositive(e < 0.0f ? e : 0.0f);
}

// Free bits (Kingma et al. 2016): the KL of a latent dimension whose global-batch mean is
// under the floor contributes the floor, a constant, so its gradient is switched off.
ELBO_HD float free_bits_gate(float kl_mean, float floor_nats) { return kl_mean >= floor_nats ? 1.0f : 0.0f; }

// The KL weight of each stochastic group of a hierarchical model (train/objective.h):
// kl_weight (the step's, already / global batch) times, with balancing, NVAE's
// coefficient c_l = a_l / mean_j a_j, a_l = (|mean KL_l| + 0.01) / dims_l, times, with
// free bits per group, the gate of the group's global batch-mean KL against the floor.
// sums: the global batch's KL of each group; dims: each group's latent dimensions.
struct KlGroupRule {
  float inv_count = 1.0f;         // 1 / global batch
  float free_bits = 0.0f;         // nats per group; 0: no gate
  const float* kl_weight = nullptr;  // device scalar: the step's KL weight / global batch
  const float* balance = nullptr;    // device scalar: 1 while balancing acts, else 0
};
ELBO_HD void kl_group_weights_of(float* weights, const float* sums, const float* dims, int groups,
                                 const KlGroupRule& rule) {
  const bool balance = rule.balance && *rule.balance != 0.0f;
  float mean_a = 0.0f;
  if (balance) {
    for (int l = 0; l < groups; ++l) mean_a += (fabsf(sums[l] * rule.inv_count) + 0.01f) / dims[l];
    mean_a /= float(groups);
  }
  for (int l = 0; l < groups; ++l) {
    const float mean_kl = sums[l] * rule.inv_count;
    float w = *rule.kl_weight;
    if (balance) w *= ((fabsf(mean_kl) + 0.01f) / dims[l]) / mean_a;
    if (rule.free_bits > 0.0f) w *= free_bits_gate(mean_kl, rule.free_bits);
    weights[l] = w;
  }
}

// ---- pairs of diagonal Gaussians, per dimension (hierarchical VAEs: q against a learned
// prior p(z_l | z_>l)); q = N(mq, exp(lq)), p = N(mp, exp(lp)). The gradients with respect
// to all four parameters, since both q and p are computed by the model.
struct GaussianPairGrad {
  float mq, lq, mp, lp;
};
// KL(q || p) = (lp - lq + (exp(lq) + (mq - mp)^2) / exp(lp) - 1) / 2, with exp(lq - lp)
// in one exponential so that equal large variances do not overflow.
ELBO_HD float kl_gaussians(float mq, float lq, float mp, float lp) {
  const float d = mq - mp;
  return 0.5f * (lp - lq + expf(lq - lp) + d * d * expf(-lp) - 1.0f);
}
ELBO_HD GaussianPairGrad kl_gaussians_grad(float mq, float lq, float mp, float lp) {
  const float d = mq - mp, inv_vp = expf(-lp), ratio = expf(lq - lp);
  return {d * inv_vp, 0.5f * (ratio - 1.0f), -d * inv_vp, 0.5f * (1.0f - ratio - d * d * inv_vp)};
}

// Ladder VAE's precision-weighted merge (Sønderby et al. 2016) of a = N(ma, exp(la)) (the
// bottom-up estimate) and b = N(mb, exp(lb)) (the top-down prior): precisions add, means
// are weighted by precision. With t = la - lb and s = sigmoid(t), b's share of the
// precision: logvar = la - softplus(t) (= -log(exp(-la) + exp(-lb)), stable for any t),
// mean = (1 - s) ma + s mb.
struct GaussianParams {
  float mu, logvar;
};
ELBO_HD GaussianParams gaussian_merge(float ma, float la, float mb, float lb) {
  const float t = la - lb, s = stable_sigmoid(t);
  return {ma + s * (mb - ma), la - stable_softplus(t)};
}
// Given d/dmean (gm) and d/dlogvar (gl) of the merge: ds/dt = s (1 - s), dsoftplus/dt = s.
// The result's lq/lp fields hold la/lb's gradients, mq/mp ma/mb's.
ELBO_HD GaussianPairGrad gaussian_merge_grad(float ma, float la, float mb, float lb, float gm, float gl) {
  const float s = stable_sigmoid(la - lb);
  const float via_t = gm * s * (1.0f - s) * (mb - ma);
  return {gm * (1.0f - s), gl * (1.0f - s) + via_t, gm * s, gl * s - via_t};
}

// A hierarchical VAE's bound on a Gaussian's log-variance (model.logvar_clamp C and
// model.sigma_floor f; either 0: that part off): a soft clamp lv' = C tanh(lv / C) into
// (-C, C) (NVAE's soft_clamp5 on log sigma is C = 10), then a floor under the standard
// deviation, sigma = exp(lv' / 2) + f (NVAE adds 0.01): lv'' = 2 log(exp(lv' / 2) + f),
// written as 2 (log f + softplus(lv' / 2 - log f)) so that nothing overflows. Without it a
// prior's log-variance can run to -inf and its KL to +inf (the NaNs NVAE's users report).
ELBO_HD float bounded_logvar(float lv, float clamp, float floor) {
  const float c = clamp > 0.0f ? clamp * tanh_without_libm(lv / clamp) : lv;
  if (floor <= 0.0f) return c;
  const float log_f = logf(floor);
  return 2.0f * (log_f + stable_softplus(0.5f * c - log_f));
}
// d lv'' / d lv = (1 - tanh^2(lv / C)) * sigmoid(lv' / 2 - log f).
ELBO_HD float bounded_logvar_grad(float lv, float clamp, float floor) {
  float c = lv, d = 1.0f;
  if (clamp > 0.0f) {
    const float t = tanh_without_libm(lv / clamp);
    c = clamp * t;
    d = 1.0f - t * t;
  }
  if (floor > 0.0f) d *= stable_sigmoid(0.5f * c - logf(floor));
  return d;
}

// One dimension of log p(z) - log q(z) for a sample z = mq + exp(lq / 2) * eps of q: log q
// is log N(eps; 0, 1) - lq / 2 (as in prior_minus_posterior_log_density), log p the
// Gaussian density at z.
ELBO_HD float gaussian_log_ratio(float z, float eps, float lq, float mp, float lp) {
  return gaussian_log_density(z, mp, lp) - (std_normal_log_density(eps) - 0.5f * lq);
}
// Its gradients with eps held fixed (z's own dependence on q reaches q through the sample):
// z: -(z - mp) / exp(lp); mp: the opposite; lp: -(1 - (z - mp)^2 / exp(lp)) / 2; lq: +1/2.
// Returned as {dz, dlq, dmp, dlp} in the fields {mq, lq, mp, lp}.
ELBO_HD GaussianPairGrad gaussian_log_ratio_grad(float z, float mp, float lp) {
  const float d = z - mp, inv_vp = expf(-lp);
  return {-d * inv_vp, kNegLogPosteriorGradLogvar, d * inv_vp, -0.5f * (1.0f - d * d * inv_vp)};
}

struct AdamHyper {
  float lr;
  float beta1;
  float beta2;
  float eps;
  float weight_decay;  // L2 (Adam, Adamax) or decoupled (AdamW)
  bool decoupled;      // true: AdamW
  bool infinity_norm;  // true: Adamax (v holds the exponentially weighted infinity norm u)
  float step_size;                  // lr / (1 - beta1^t)
  float inv_sqrt_bias_correction2;  // 1 / sqrt(1 - beta2^t)
  // When set (a device pointer): {step_size, inv_sqrt_bias_correction2, lr} of the current
  // step, read on the device instead of those fields (a captured step's Adam, a schedule).
  const float* device_step = nullptr;
};

// The hyper-parameters with the device's per-step values in place (read where the
// update runs: once per loop on the CPU, per thread on the GPU).
ELBO_HD AdamHyper resolve_adam_step(AdamHyper h) {
  if (h.device_step) {
    h.step_size = h.device_step[0];
    h.inv_sqrt_bias_correction2 = h.device_step[1];
    h.lr = h.device_step[2];
  }
  return h;
}

// The hyper-parameters of step t (from 1), bias corrections computed in double on the
// host so that every backend uses the same float values.
inline AdamHyper make_adam_hyper(float lr, float beta1, float beta2, float eps, float weight_decay, bool decoupled,
                                 long long t, bool infinity_norm = false) {
  const double bc1 = 1.0 - std::pow(double(beta1), double(t));
  const double bc2 = 1.0 - std::pow(double(beta2), double(t));
  return AdamHyper{lr,           beta1,          beta2, eps, weight_decay, decoupled, infinity_norm, float(lr / bc1),
                   float(1.0 / std::sqrt(bc2)), nullptr};
}

struct AdamState {
  float p, m, v;
};

// One Adam/AdamW update of one parameter, by value (so CPU loops vectorise);
// grad_scale carries gradient clipping. The update is
//   p -= step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// (PyTorch's arrangement: one square root and one division per element, the bias
// corrections folded into two per-step scalars).
// Adamax (Kingma & Ba, section 7.1, arranged as PyTorch does) keeps in v the infinity
// norm u = max(beta2 * u, |g| + eps) and needs no second bias correction:
//   p -= step_size * m / u
ELBO_HD AdamState adam_update_value(AdamState s, float g, const AdamHyper& h, float grad_scale) {
  g *= grad_scale;
  if (!h.decoupled) g += h.weight_decay * s.p;
  const float decay = h.decoupled ? h.lr * h.weight_decay * s.p : 0.0f;
  s.m = h.beta1 * s.m + (1.0f - h.beta1) * g;
  float denom;
  if (h.infinity_norm) {
    s.v = fmaxf(h.beta2 * s.v, fabsf(g) + h.eps);
    denom = s.v;
  } else {
    s.v = h.beta2 * s.v + (1.0f - h.beta2) * g * g;
    denom = sqrtf(s.v) * h.inv_sqrt_bias_correction2 + h.eps;
  }
  s.p -= h.step_size * s.m / denom + decay;
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

// Whether the optimiser applies a step, decided on the device from values every rank
// holds alike after the all-reduce (so every rank decides the same, with no extra
// collective and inside a captured graph): the global gradient's sum of squares, and the
// step's health, the sum over ranks of each rank's 0 (or NaN for a rank whose input or
// loss was not finite). train.skip_threshold and train.nonfinite (optim/update_guard.h).
struct UpdateRule {
  float clip_norm = 0.0f;       // train.grad_clip; 0: no clipping
  float skip_norm = 0.0f;       // train.skip_threshold; 0: never skip for the norm
  bool skip_nonfinite = true;   // train.nonfinite: skip
};
// The gate, four device floats: the gradient scale, 1 when the step is skipped (0
// otherwise), and the run's running counts of steps skipped as non-finite and as over
// the threshold (exact as floats up to 2^24 skipped steps).
struct UpdateGate {
  static constexpr int kScale = 0, kSkip = 1, kSkippedNonfinite = 2, kSkippedOverThreshold = 3, kSize = 4;
};
ELBO_HD void decide_update(float* gate, float sumsq, float health, const UpdateRule& rule) {
  const bool nonfinite = !float_is_finite(sumsq) || !float_is_finite(health);
  const bool over = !nonfinite && rule.skip_norm > 0.0f && sqrtf(sumsq) > rule.skip_norm;
  const bool skip = over || (nonfinite && rule.skip_nonfinite);
  if (skip && nonfinite) gate[UpdateGate::kSkippedNonfinite] += 1.0f;
  if (over) gate[UpdateGate::kSkippedOverThreshold] += 1.0f;
  gate[UpdateGate::kSkip] = skip ? 1.0f : 0.0f;
  gate[UpdateGate::kScale] = skip ? 0.0f : clip_scale_from_sumsq(sumsq, rule.clip_norm);
}

// One element of the exponential moving average of the weights: e <- d e + (1 - d) p.
ELBO_HD float ema_value(float e, float p, float decay) { return decay * e + (1.0f - decay) * p; }

}  // namespace elbo
