// The per-element arithmetic of the layers of hierarchical models (group norm, weight
// norm, embedding), shared by the CPU loops and the CUDA kernels like kernels/math.h.
// The sums these formulas take (means, dot products, norms) are each backend's
// deterministic reductions, in double; the per-element steps are float, alike on both.
#pragma once
#include <cmath>

#include "elbo/kernels/hd.h"

namespace elbo {

// 1 / sqrt(var + eps) from a group's variance; var is clamped at 0 against rounding.
ELBO_HD float group_norm_rstd(double var, float eps) { return 1.0f / sqrtf(float(var > 0.0 ? var : 0.0) + eps); }

// The normalised value xhat = (x - mean) * rstd, and the layer's output.
ELBO_HD float group_norm_xhat(float x, float mean, float rstd) { return (x - mean) * rstd; }
ELBO_HD float group_norm_value(float x, float mean, float rstd, float gamma, float beta) {
  return group_norm_xhat(x, mean, rstd) * gamma + beta;
}

// dL/dx for one element of a group of m elements, from g = dy * gamma and its group
// means mean_g = sum(g) / m and mean_gx = sum(g * xhat) / m:
//   dx = rstd * (g - mean_g - xhat * mean_gx)
// (the mean and the variance depend on every x of the group, hence the two means).
ELBO_HD float group_norm_grad_input(float dy, float gamma, float xhat, float rstd, float mean_g, float mean_gx) {
  return rstd * (dy * gamma - mean_g - xhat * mean_gx);
}

// Weight norm, w = g v / ||v|| per output unit: the row's factor g / ||v||; a zero row
// (norm 0) gives w = 0 rather than NaN.
ELBO_HD float weight_norm_factor(float g, float norm) { return norm > 0.0f ? g / norm : 0.0f; }
// dL/dv_j = (g / ||v||) (dw_j - v_j (dw . v) / ||v||^2); dL/dg = (dw . v) / ||v||.
ELBO_HD float weight_norm_grad_v(float dw, float v, float factor, float dot_over_norm2) {
  return factor * (dw - v * dot_over_norm2);
}

// The row of an embedding table for a class number stored as a float, or -1 when it is
// not one of [0, classes) (such a row reads zeros and gets no gradient).
ELBO_HD int embedding_row(float index, int classes) {
  return index >= 0.0f && index < float(classes) ? int(index) : -1;
}

}  // namespace elbo
