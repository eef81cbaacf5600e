#include "cpu_layers.h"

#include <algorithm>
#include <vector>

#include "elbo/kernels/layer_math.h"

namespace elbo {
namespace cpu_layers {
namespace {

// Items per part such that a part holds about 32k elements of work (cpu_backend.cc's
// threshold): short loops stay on the calling thread. The parts depend on the sizes
// only; which thread runs a part never changes a result.
size_t min_items(size_t work_per_item) { return std::max<size_t>(1, 32768 / std::max<size_t>(1, work_per_item)); }

void put(float* dst, float v, bool accumulate) { *dst = accumulate ? *dst + v : v; }

}  // namespace

void copy_columns(WorkerPool& pool, float* dst, size_t dst_stride, const float* src, size_t src_stride, int rows,
                  size_t cols, bool accumulate) {
  if (rows <= 0 || cols == 0) return;
  pool.parallel_for(size_t(rows), min_items(cols), [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      float* __restrict d = dst + r * dst_stride;
      const float* __restrict s = src + r * src_stride;
      if (accumulate)
        for (size_t j = 0; j < cols; ++j) d[j] += s[j];
      else
        std::copy(s, s + cols, d);
    }
  });
}

// Both resampling ops run over the small side's rows (plane p, row i): each writes its
// own two big rows (upsample) or its own small row (pooling). A pixel is `lanes`
// consecutive floats (1 in NCHW, the channel block in blocked maps); each float is summed
// in the same order either way, so the two layouts give the same bits.
void upsample2x(WorkerPool& pool, float* big, const float* small, int planes, int h, int w, int lanes, float alpha,
                bool accumulate) {
  const size_t W = size_t(w), L = size_t(lanes), row = W * L;
  pool.parallel_for(size_t(planes) * h, min_items(4 * row), [&](size_t q0, size_t q1) {
    for (size_t q = q0; q < q1; ++q) {  // q = p * h + i; big rows 2q and 2q + 1 of the stacked planes
      const float* s = small + q * row;
      for (size_t a = 0; a < 2; ++a) {
        float* b = big + (2 * q + a) * 2 * row;
        for (size_t j = 0; j < W; ++j)
          for (size_t l = 0; l < L; ++l) {
            const float v = alpha * s[j * L + l];
            put(b + 2 * j * L + l, v, accumulate);
            put(b + (2 * j + 1) * L + l, v, accumulate);
          }
      }
    }
  });
}

void sum_pool2x(WorkerPool& pool, float* small, const float* big, int planes, int h, int w, int lanes, float alpha,
                bool accumulate) {
  const size_t W = size_t(w), L = size_t(lanes), row = W * L;
  pool.parallel_for(size_t(planes) * h, min_items(4 * row), [&](size_t q0, size_t q1) {
    for (size_t q = q0; q < q1; ++q) {
      const float* top = big + 2 * q * 2 * row;
      const float* bottom = top + 2 * row;
      float* s = small + q * row;
      for (size_t j = 0; j < W; ++j)
        for (size_t l = 0; l < L; ++l) {
          const size_t left = 2 * j * L + l, right = (2 * j + 1) * L + l;
          put(s + j * L + l, alpha * (((top[left] + top[right]) + bottom[left]) + bottom[right]), accumulate);
        }
    }
  });
}

// A group of sample s, group gi: channels [gi * cpg, (gi + 1) * cpg), contiguous in NCHW.
void group_norm_forward(WorkerPool& pool, float* y, float* stats, const float* x, const float* gamma,
                        const float* beta, int n, int c, int hw, int groups, float eps) {
  const size_t cpg = size_t(c / groups), m = cpg * size_t(hw);
  pool.parallel_for(size_t(n) * groups, min_items(3 * m), [&](size_t k0, size_t k1) {
    for (size_t k = k0; k < k1; ++k) {  // k = s * groups + gi
      const size_t first = k * m, ch0 = (k % size_t(groups)) * cpg;
      const float* xg = x + first;
      double sum = 0.0;
      for (size_t i = 0; i < m; ++i) sum += xg[i];
      const double mean = sum / double(m);
      double sq = 0.0;  // two passes: no cancellation of E[x^2] - E[x]^2
      for (size_t i = 0; i < m; ++i) sq += (xg[i] - mean) * (xg[i] - mean);
      const float mean_f = float(mean), rstd = group_norm_rstd(sq / double(m), eps);
      stats[2 * k] = mean_f;
      stats[2 * k + 1] = rstd;
      for (size_t i = 0; i < m; ++i) {
        const size_t ch = ch0 + i / size_t(hw);
        y[first + i] = group_norm_value(xg[i], mean_f, rstd, gamma[ch], beta[ch]);
      }
    }
  });
}

void group_norm_backward(WorkerPool& pool, float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* stats, const float* gamma, int n, int c, int hw, int groups, bool accumulate) {
  const size_t cpg = size_t(c / groups), HW = size_t(hw), m = cpg * HW;
  // Parameter gradients: one channel per item, summed over samples then pixels in order.
  pool.parallel_for(size_t(c), min_items(2 * size_t(n) * HW), [&](size_t c0, size_t c1) {
    for (size_t ch = c0; ch < c1; ++ch) {
      double dg = 0.0, db = 0.0;
      for (size_t s = 0; s < size_t(n); ++s) {
        const size_t k = s * groups + ch / cpg, first = (s * c + ch) * HW;
        const float mean = stats[2 * k], rstd = stats[2 * k + 1];
        for (size_t i = 0; i < HW; ++i) {
          dg += double(dy[first + i]) * group_norm_xhat(x[first + i], mean, rstd);
          db += dy[first + i];
        }
      }
      dgamma[ch] += float(dg);
      dbeta[ch] += float(db);
    }
  });
  if (!dx) return;
  // The input gradient: one group per item.
  pool.parallel_for(size_t(n) * groups, min_items(3 * m), [&](size_t k0, size_t k1) {
    for (size_t k = k0; k < k1; ++k) {
      const size_t first = k * m, ch0 = (k % size_t(groups)) * cpg;
      const float mean = stats[2 * k], rstd = stats[2 * k + 1];
      double sg = 0.0, sgx = 0.0;
      for (size_t i = 0; i < m; ++i) {
        const float g = dy[first + i] * gamma[ch0 + i / HW];
        sg += g;
        sgx += double(g) * group_norm_xhat(x[first + i], mean, rstd);
      }
      const float mean_g = float(sg / double(m)), mean_gx = float(sgx / double(m));
      for (size_t i = 0; i < m; ++i) {
        const float xhat = group_norm_xhat(x[first + i], mean, rstd);
        put(dx + first + i, group_norm_grad_input(dy[first + i], gamma[ch0 + i / HW], xhat, rstd, mean_g, mean_gx),
            accumulate);
      }
    }
  });
}

void weight_norm_forward(WorkerPool& pool, float* w, float* norms, const float* v, const float* g, int rows, int cols) {
  const size_t C = size_t(cols);
  pool.parallel_for(size_t(rows), min_items(2 * C), [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const float* vr = v + r * C;
      double sq = 0.0;
      for (size_t j = 0; j < C; ++j) sq += double(vr[j]) * vr[j];
      const float norm = float(std::sqrt(sq)), factor = weight_norm_factor(g[r], norm);
      norms[r] = norm;
      for (size_t j = 0; j < C; ++j) w[r * C + j] = factor * vr[j];
    }
  });
}

void weight_norm_backward(WorkerPool& pool, float* dv, float* dg, const float* dw, const float* v, const float* g,
                          const float* norms, int rows, int cols) {
  const size_t C = size_t(cols);
  pool.parallel_for(size_t(rows), min_items(2 * C), [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const float* vr = v + r * C;
      const float* dwr = dw + r * C;
      double dot = 0.0;
      for (size_t j = 0; j < C; ++j) dot += double(dwr[j]) * vr[j];
      const float norm = norms[r], factor = weight_norm_factor(g[r], norm);
      if (norm > 0.0f) dg[r] += float(dot / norm);
      const float dot_over_norm2 = norm > 0.0f ? float(dot / (double(norm) * norm)) : 0.0f;
      for (size_t j = 0; j < C; ++j) dv[r * C + j] += weight_norm_grad_v(dwr[j], vr[j], factor, dot_over_norm2);
    }
  });
}

void embedding_forward(WorkerPool& pool, float* y, const float* table, const float* index, int rows, int classes,
                       int dim) {
  const size_t D = size_t(dim);
  pool.parallel_for(size_t(rows), min_items(D), [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const int k = embedding_row(index[r], classes);
      if (k >= 0)
        std::copy(table + size_t(k) * D, table + (size_t(k) + 1) * D, y + r * D);
      else
        std::fill(y + r * D, y + (r + 1) * D, 0.0f);
    }
  });
}

// Scatter-add without atomics: each part owns a range of columns of every class and
// walks the rows in order, so dtable[k, j] sums its rows in row order.
void embedding_backward(WorkerPool& pool, float* dtable, const float* dy, const float* index, int rows, int classes,
                        int dim) {
  const size_t D = size_t(dim);
  pool.parallel_for(D, min_items(size_t(rows)), [&](size_t j0, size_t j1) {
    const size_t width = j1 - j0;
    std::vector<double> acc(size_t(classes) * width, 0.0);
    std::vector<char> seen(size_t(classes), 0);
    for (size_t r = 0; r < size_t(rows); ++r) {
      const int k = embedding_row(index[r], classes);
      if (k < 0) continue;
      seen[size_t(k)] = 1;
      for (size_t j = j0; j < j1; ++j) acc[size_t(k) * width + (j - j0)] += dy[r * D + j];
    }
    for (size_t k = 0; k < size_t(classes); ++k)
      if (seen[k])
        for (size_t j = j0; j < j1; ++j) dtable[k * D + j] += float(acc[k * width + (j - j0)]);
  });
}

}  // namespace cpu_layers
}  // namespace elbo
