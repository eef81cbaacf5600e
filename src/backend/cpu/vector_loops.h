// The CPU backend's hottest element-wise loops (a profile of a tanh MLP's step puts
// about a third of it here once the GEMMs run on oneDNN), over one worker's range.
//
// Each is compiled three times, for AVX-512 (x86-64-v4), AVX2 (x86-64-v3) and baseline
// x86-64, and the loader picks the widest this CPU runs (GCC's target_clones): a default
// build, made for any x86-64, still runs them 16 floats wide where it can, so speed does
// not depend on how elbo was built. The clones give the same bits: every lane does the
// same IEEE operations in the same order, and elbo_core compiles with -ffp-contract=off,
// so no clone fuses a multiply and an add that the baseline rounds twice. (A NaN stays a
// NaN in every clone, but its sign bit may differ: x86 picks which NaN operand survives.)
#pragma once
#include <cstddef>
#include <cstdint>

#include "elbo/kernels/math.h"

namespace elbo {
namespace vector_loops {

// Rows [r0, r1) of y (rows x cols) become act(y + bias).
void bias_act_rows(float* y, const float* bias, size_t r0, size_t r1, int cols, Activation act);
// dx[i] = dy[i] * act'(from y[i], the activation's output), i in [b, e); dx may be dy.
void act_backward_from_output(float* dx, const float* dy, const float* y, size_t b, size_t e, Activation act);
// dx[i] = dy[i] * act'(from x[i], the activation's input), i in [b, e); dx may be dy.
void act_backward_from_input(float* dx, const float* dy, const float* x, size_t b, size_t e, Activation act);
// nll[r] = sum_j bernoulli_nll(logits[r, j], x[r, j]) for rows [r0, r1); terms holds dim floats.
void bernoulli_nll_rows(float* nll, const float* logits, const float* x, size_t r0, size_t r1, int dim, float* terms);
// d[i] = w * (sigmoid(logits[i]) - x[i]), i in [b, e).
void bernoulli_nll_grad(float* d, const float* logits, const float* x, size_t b, size_t e, float w);
// Rows [0, rows) of (mu | logvar) stats: out = stats with each logvar bounded
// (bounded_logvar), and its backward, dstats += dout with each logvar's gradient times
// bounded_logvar_grad.
void bound_logvar_rows(float* out, const float* stats, int rows, int latent, float clamp, float floor);
void bound_logvar_grad_rows(float* dstats, const float* dout, const float* stats, int rows, int latent, float clamp,
                            float floor);
// Philox draws for counters q0 .. q0 + count - 1 of one stream row (seed, stream, a),
// four words per draw: word w of draw q at words[4 (q - q0) + w]. Each draw is computed
// once for the elements that share it (philox_uniform's and philox_normal's conventions).
void philox_row_words(uint32_t* words, uint64_t seed, uint32_t stream, uint64_t a, uint32_t q0, uint32_t count);
// eps[j] = box_muller(pairs[2 j], pairs[2 j + 1]), j in [0, n): standard normals.
void standard_normals(float* eps, const uint32_t* pairs, size_t n);
// Adam on elements [b, e) with the step's resolved hyper-parameters and gradient scale.
void adam(float* params, const float* grads, float* m, float* v, size_t b, size_t e, const AdamHyper& h, float scale);

}  // namespace vector_loops
}  // namespace elbo
