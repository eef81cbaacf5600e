#include "cpu_gaussian_pairs.h"

#include "elbo/kernels/math.h"
#include "vector_loops.h"

namespace elbo {
namespace cpu_gaussian_pairs {

// Row r of a (mu | logvar) array: mu at [0, latent), logvar at [latent, 2 latent).
static size_t row_of(int r, int latent) { return size_t(r) * 2 * size_t(latent); }

void kl_forward(float* kl, const float* q, const float* p, int rows, int latent) {
  for (int r = 0; r < rows; ++r) {
    const float* qr = q + row_of(r, latent);
    const float* pr = p + row_of(r, latent);
    double acc = 0.0;
    for (int j = 0; j < latent; ++j) acc += kl_gaussians(qr[j], qr[latent + j], pr[j], pr[latent + j]);
    kl[r] = float(acc);
  }
}

void kl_backward(float* dq, float* dp, const float* q, const float* p, int rows, int latent, Weight weight) {
  for (int r = 0; r < rows; ++r) {
    const float w = weight.at(size_t(r));
    const size_t o = row_of(r, latent);
    for (int j = 0; j < latent; ++j) {
      const GaussianPairGrad g = kl_gaussians_grad(q[o + j], q[o + latent + j], p[o + j], p[o + latent + j]);
      if (dq) {
        dq[o + j] += w * g.mq;
        dq[o + latent + j] += w * g.lq;
      }
      if (dp) {
        dp[o + j] += w * g.mp;
        dp[o + latent + j] += w * g.lp;
      }
    }
  }
}

void merge_forward(float* out, const float* a, const float* b, int rows, int latent) {
  for (int r = 0; r < rows; ++r) {
    const size_t o = row_of(r, latent);
    for (int j = 0; j < latent; ++j) {
      const GaussianParams m = gaussian_merge(a[o + j], a[o + latent + j], b[o + j], b[o + latent + j]);
      out[o + j] = m.mu;
      out[o + latent + j] = m.logvar;
    }
  }
}

void merge_backward(float* da, float* db, const float* dout, const float* a, const float* b, int rows, int latent) {
  for (int r = 0; r < rows; ++r) {
    const size_t o = row_of(r, latent);
    for (int j = 0; j < latent; ++j) {
      const GaussianPairGrad g = gaussian_merge_grad(a[o + j], a[o + latent + j], b[o + j], b[o + latent + j],
                                                     dout[o + j], dout[o + latent + j]);
      if (da) {
        da[o + j] += g.mq;
        da[o + latent + j] += g.lq;
      }
      if (db) {
        db[o + j] += g.mp;
        db[o + latent + j] += g.lp;
      }
    }
  }
}

void log_ratio_forward(float* logw, const float* z, const float* eps, const float* q, const float* p, int rows,
                       int latent) {
  for (int r = 0; r < rows; ++r) {
    const size_t o = row_of(r, latent), zr = size_t(r) * size_t(latent);
    double acc = 0.0;
    for (int j = 0; j < latent; ++j)
      acc += gaussian_log_ratio(z[zr + j], eps[zr + j], q[o + latent + j], p[o + j], p[o + latent + j]);
    logw[r] += float(acc);
  }
}

void log_ratio_backward(float* dz, float* dq, float* dp, const float* z, const float* p, int rows, int latent,
                        Weight weight) {
  for (int r = 0; r < rows; ++r) {
    const float w = weight.at(size_t(r));
    const size_t o = row_of(r, latent), zr = size_t(r) * size_t(latent);
    for (int j = 0; j < latent; ++j) {
      const GaussianPairGrad g = gaussian_log_ratio_grad(z[zr + j], p[o + j], p[o + latent + j]);
      if (dz) dz[zr + j] += w * g.mq;
      if (dq) dq[o + latent + j] += w * g.lq;
      if (dp) {
        dp[o + j] += w * g.mp;
        dp[o + latent + j] += w * g.lp;
      }
    }
  }
}

// The variance bound is the costliest per element (a tanh, a softplus, three divisions):
// its loops are vector_loops.cc's, compiled for each vector width.
void bound_logvar_forward(float* out, const float* stats, int rows, int latent, float clamp, float floor) {
  vector_loops::bound_logvar_rows(out, stats, rows, latent, clamp, floor);
}

void bound_logvar_backward(float* dstats, const float* dout, const float* stats, int rows, int latent, float clamp,
                           float floor) {
  vector_loops::bound_logvar_grad_rows(dstats, dout, stats, rows, latent, clamp, floor);
}

}  // namespace cpu_gaussian_pairs
}  // namespace elbo
