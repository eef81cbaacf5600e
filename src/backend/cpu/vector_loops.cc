#include "vector_loops.h"

#include "elbo/kernels/philox.h"

#include "lane_sum.h"

// GCC 12 or later on x86-64 makes the clones (GCC 11 cannot dispatch on the x86-64-v3/v4
// levels, older ones do not know them, clang spells them differently; there, and on
// other CPUs, each loop is compiled once for the build's target).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define ELBO_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define ELBO_INLINE_INTO_CLONE __attribute__((always_inline)) inline
#else
#define ELBO_VECTOR_CLONES
#define ELBO_INLINE_INTO_CLONE inline
#endif

namespace elbo {
namespace vector_loops {
namespace {

// One loop per activation, with the activation a compile-time constant so that
// act_forward's switch folds away. Always inlined into the clone that calls it: a loop
// compiled on its own would be compiled for the baseline only.
template <Activation A>
ELBO_INLINE_INTO_CLONE void bias_act_rows_of(float* y, const float* bias, size_t r0, size_t r1, int cols) {
  const float* __restrict b = bias;
  for (size_t r = r0; r < r1; ++r) {
    float* __restrict row = y + r * size_t(cols);
    for (int c = 0; c < cols; ++c) row[c] = act_forward(A, row[c] + b[c]);
  }
}

// dx = dy * act'(v), v the activation's input or its output (kFromInput).
template <Activation A, bool kFromInput>
ELBO_INLINE_INTO_CLONE void act_backward_of(float* dx, const float* dy, const float* v, size_t b, size_t e) {
  const auto grad_at = [](float value) {
    return kFromInput ? act_grad_from_input(A, value) : act_grad_from_output(A, value);
  };
  const float* __restrict at = v;
  if (dx == dy) {
    // In place (Linear::backward): dx and dy declared __restrict would be undefined
    // behaviour; one pointer read and written per element vectorises alike.
    float* __restrict g = dx;
    for (size_t i = b; i < e; ++i) g[i] *= grad_at(at[i]);
    return;
  }
  float* __restrict out = dx;
  const float* __restrict grad = dy;
  for (size_t i = b; i < e; ++i) out[i] = grad[i] * grad_at(at[i]);
}
template <Activation A>
ELBO_INLINE_INTO_CLONE void act_backward_from_output_of(float* dx, const float* dy, const float* y, size_t b,
                                                        size_t e) {
  act_backward_of<A, false>(dx, dy, y, b, e);
}
template <Activation A>
ELBO_INLINE_INTO_CLONE void act_backward_from_input_of(float* dx, const float* dy, const float* x, size_t b,
                                                       size_t e) {
  act_backward_of<A, true>(dx, dy, x, b, e);
}

// Calls LOOP<activation>(args...) with the activation as a template argument.
#define ELBO_FOR_ACTIVATION(act, LOOP, ...)                                            \
  switch (act) {                                                                       \
    case Activation::kReLU: return LOOP<Activation::kReLU>(__VA_ARGS__);               \
    case Activation::kTanh: return LOOP<Activation::kTanh>(__VA_ARGS__);               \
    case Activation::kSigmoid: return LOOP<Activation::kSigmoid>(__VA_ARGS__);         \
    case Activation::kLeakyReLU: return LOOP<Activation::kLeakyReLU>(__VA_ARGS__);     \
    case Activation::kELU: return LOOP<Activation::kELU>(__VA_ARGS__);                 \
    case Activation::kSwish: return LOOP<Activation::kSwish>(__VA_ARGS__);             \
    case Activation::kSoftplus: return LOOP<Activation::kSoftplus>(__VA_ARGS__);       \
    case Activation::kGELU: return LOOP<Activation::kGELU>(__VA_ARGS__);               \
    default: return LOOP<Activation::kIdentity>(__VA_ARGS__);                          \
  }

}  // namespace

ELBO_VECTOR_CLONES
void bias_act_rows(float* y, const float* bias, size_t r0, size_t r1, int cols, Activation act) {
  ELBO_FOR_ACTIVATION(act, bias_act_rows_of, y, bias, r0, r1, cols)
}

ELBO_VECTOR_CLONES
void act_backward_from_output(float* dx, const float* dy, const float* y, size_t b, size_t e, Activation act) {
  ELBO_FOR_ACTIVATION(act, act_backward_from_output_of, dx, dy, y, b, e)
}

ELBO_VECTOR_CLONES
void act_backward_from_input(float* dx, const float* dy, const float* x, size_t b, size_t e, Activation act) {
  ELBO_FOR_ACTIVATION(act, act_backward_from_input_of, dx, dy, x, b, e)
}

ELBO_VECTOR_CLONES
void bernoulli_nll_rows(float* nll, const float* logits, const float* x, size_t r0, size_t r1, int dim,
                        float* terms) {
  // Element values first (a loop that vectorises), then their deterministic lane sum.
  float* __restrict t = terms;
  for (size_t r = r0; r < r1; ++r) {
    const float* __restrict l = logits + r * size_t(dim);
    const float* __restrict xr = x + r * size_t(dim);
    for (int j = 0; j < dim; ++j) t[j] = bernoulli_nll(l[j], xr[j]);
    nll[r] = float(lane_sum(size_t(dim), [t](size_t j) { return t[j]; }));
  }
}

ELBO_VECTOR_CLONES
void bernoulli_nll_grad(float* d, const float* logits, const float* x, size_t b, size_t e, float w) {
  float* __restrict out = d;
  const float* __restrict l = logits;
  const float* __restrict xr = x;
  for (size_t i = b; i < e; ++i) out[i] = w * elbo::bernoulli_nll_grad(l[i], xr[i]);
}

ELBO_VECTOR_CLONES
void bound_logvar_rows(float* out, const float* stats, int rows, int latent, float clamp, float floor) {
  if (rows <= 0 || latent <= 0) return;
  const size_t width = size_t(latent);
  for (size_t r = 0; r < size_t(rows); ++r) {
    const float* __restrict in = stats + 2 * width * r;
    float* __restrict to = out + 2 * width * r;
    for (size_t j = 0; j < width; ++j) to[j] = in[j];
    for (size_t j = width; j < 2 * width; ++j) to[j] = bounded_logvar(in[j], clamp, floor);
  }
}

ELBO_VECTOR_CLONES
void bound_logvar_grad_rows(float* dstats, const float* dout, const float* stats, int rows, int latent, float clamp,
                            float floor) {
  if (rows <= 0 || latent <= 0) return;
  const size_t width = size_t(latent);
  for (size_t r = 0; r < size_t(rows); ++r) {
    const float* __restrict in = stats + 2 * width * r;
    const float* __restrict grad = dout + 2 * width * r;
    float* __restrict to = dstats + 2 * width * r;
    for (size_t j = 0; j < width; ++j) to[j] += grad[j];
    for (size_t j = width; j < 2 * width; ++j) to[j] += grad[j] * bounded_logvar_grad(in[j], clamp, floor);
  }
}

ELBO_VECTOR_CLONES
void adam(float* params, const float* grads, float* m, float* v, size_t b, size_t e, const AdamHyper& hyper,
          float scale) {
  // Local copies: through references the compiler would have to assume that the stores
  // to p, m and v change them, and could not vectorise.
  const AdamHyper h = hyper;
  const float s = scale;
  float* __restrict p = params;
  float* __restrict mm = m;
  float* __restrict vv = v;
  const float* __restrict g = grads;
  for (size_t i = b; i < e; ++i) {
    const AdamState st = adam_update_value(AdamState{p[i], mm[i], vv[i]}, g[i], h, s);
    p[i] = st.p;
    mm[i] = st.m;
    vv[i] = st.v;
  }
}

ELBO_VECTOR_CLONES
void philox_row_words(uint32_t* words, uint64_t seed, uint32_t stream, uint64_t a, uint32_t q0, uint32_t count) {
  uint32_t* __restrict out = words;
  for (uint32_t q = 0; q < count; ++q) {
    const Philox4 d = philox_draw(seed, stream, a, q0 + q);
    for (int w = 0; w < 4; ++w) out[4 * size_t(q) + w] = d.x[w];
  }
}

ELBO_VECTOR_CLONES
void standard_normals(float* eps, const uint32_t* pairs, size_t n) {
  float* __restrict out = eps;
  const uint32_t* __restrict w = pairs;
  for (size_t j = 0; j < n; ++j) out[j] = box_muller(w[2 * j], w[2 * j + 1]);
}

}  // namespace vector_loops
}  // namespace elbo
