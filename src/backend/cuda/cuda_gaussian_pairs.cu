// Kernels of the ops on pairs of diagonal Gaussians: the element-wise ones (backward,
// merge) take one thread per (row, dimension) and index like the CPU loops of
// src/backend/cpu/cpu_gaussian_pairs.cc; the per-row sums (KL, log ratio) one block per row.
#include "cuda_gaussian_pairs.h"
#include "cuda_launch.cuh"
#include "elbo/kernels/math.h"

namespace elbo {
namespace cudak {
namespace {

constexpr int kRowBlock = 128;  // threads per row of a per-row sum (a power of two)

size_t elements(int rows, int latent) { return rows > 0 && latent > 0 ? size_t(rows) * size_t(latent) : 0; }

// out[r] (= or +=) sum_j term(r, j) in double: thread t takes j = t, t + kRowBlock, ...,
// then a fixed shared-memory tree.
template <class Term>
__global__ void row_sum_kernel(float* out, int cols, Term term, bool accumulate) {
  __shared__ double shared[kRowBlock];
  const size_t r = blockIdx.x;
  double acc = 0.0;
  for (int j = threadIdx.x; j < cols; j += kRowBlock) acc += double(term(r, size_t(j)));
  shared[threadIdx.x] = acc;
  __syncthreads();
  for (int half = kRowBlock / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[r] = accumulate ? out[r] + float(shared[0]) : float(shared[0]);
}

template <class Term>
void row_sum(cudaStream_t s, float* out, int rows, int cols, const Term& term, bool accumulate) {
  if (rows <= 0) return;
  row_sum_kernel<<<rows, kRowBlock, 0, s>>>(out, cols < 0 ? 0 : cols, term, accumulate);
  CUDA_CHECK_LAUNCH();
}

struct KlTerm {
  const float* q;
  const float* p;
  size_t latent;
  __device__ float operator()(size_t r, size_t j) const {
    const size_t o = r * 2 * latent;
    return kl_gaussians(q[o + j], q[o + latent + j], p[o + j], p[o + latent + j]);
  }
};
struct LogRatioTerm {
  const float* z;
  const float* eps;
  const float* q;
  const float* p;
  size_t latent;
  __device__ float operator()(size_t r, size_t j) const {
    const size_t o = r * 2 * latent, i = r * latent + j;
    return gaussian_log_ratio(z[i], eps[i], q[o + latent + j], p[o + j], p[o + latent + j]);
  }
};

struct KlBackwardOp {
  float* dq;
  float* dp;
  const float* q;
  const float* p;
  size_t latent;
  Weight weight;
  __device__ void operator()(size_t i) const {
    const size_t r = i / latent, j = i % latent, o = r * 2 * latent;
    const float w = weight.at(r);
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
};
struct MergeForwardOp {
  float* out;
  const float* a;
  const float* b;
  size_t latent;
  __device__ void operator()(size_t i) const {
    const size_t r = i / latent, j = i % latent, o = r * 2 * latent;
    const GaussianParams m = gaussian_merge(a[o + j], a[o + latent + j], b[o + j], b[o + latent + j]);
    out[o + j] = m.mu;
    out[o + latent + j] = m.logvar;
  }
};
struct MergeBackwardOp {
  float* da;
  float* db;
  const float* dout;
  const float* a;
  const float* b;
  size_t latent;
  __device__ void operator()(size_t i) const {
    const size_t r = i / latent, j = i % latent, o = r * 2 * latent;
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
};
struct LogRatioBackwardOp {
  float* dz;
  float* dq;
  float* dp;
  const float* z;
  const float* p;
  size_t latent;
  Weight weight;
  __device__ void operator()(size_t i) const {
    const size_t r = i / latent, j = i % latent, o = r * 2 * latent;
    const float w = weight.at(r);
    const GaussianPairGrad g = gaussian_log_ratio_grad(z[i], p[o + j], p[o + latent + j]);
    if (dz) dz[i] += w * g.mq;
    if (dq) dq[o + latent + j] += w * g.lq;
    if (dp) {
      dp[o + j] += w * g.mp;
      dp[o + latent + j] += w * g.lp;
    }
  }
};

struct BoundLogvarForwardOp {
  float* out;
  const float* stats;
  size_t latent;
  float clamp, floor;
  __device__ void operator()(size_t i) const {
    const size_t r = i / latent, j = i % latent, o = r * 2 * latent;
    out[o + j] = stats[o + j];
    out[o + latent + j] = bounded_logvar(stats[o + latent + j], clamp, floor);
  }
};
struct BoundLogvarBackwardOp {
  float* dstats;
  const float* dout;
  const float* stats;
  size_t latent;
  float clamp, floor;
  __device__ void operator()(size_t i) const {
    const size_t r = i / latent, j = i % latent, o = r * 2 * latent;
    dstats[o + j] += dout[o + j];
    dstats[o + latent + j] += dout[o + latent + j] * bounded_logvar_grad(stats[o + latent + j], clamp, floor);
  }
};

}  // namespace

void kl_gaussians_forward(cudaStream_t s, float* kl, const float* q, const float* p, int rows, int latent) {
  row_sum(s, kl, rows, latent, KlTerm{q, p, size_t(latent)}, false);
}
void kl_gaussians_backward(cudaStream_t s, float* dq, float* dp, const float* q, const float* p, int rows, int latent,
                           Weight weight) {
  for_each(s, elements(rows, latent), KlBackwardOp{dq, dp, q, p, size_t(latent), weight});
}
void gaussian_merge_forward(cudaStream_t s, float* out, const float* a, const float* b, int rows, int latent) {
  for_each(s, elements(rows, latent), MergeForwardOp{out, a, b, size_t(latent)});
}
void gaussian_merge_backward(cudaStream_t s, float* da, float* db, const float* dout, const float* a, const float* b,
                             int rows, int latent) {
  for_each(s, elements(rows, latent), MergeBackwardOp{da, db, dout, a, b, size_t(latent)});
}
void gaussian_log_ratio_forward(cudaStream_t s, float* logw, const float* z, const float* eps, const float* q,
                                const float* p, int rows, int latent) {
  row_sum(s, logw, rows, latent, LogRatioTerm{z, eps, q, p, size_t(latent)}, true);
}
void gaussian_log_ratio_backward(cudaStream_t s, float* dz, float* dq, float* dp, const float* z, const float* p,
                                 int rows, int latent, Weight weight) {
  for_each(s, elements(rows, latent), LogRatioBackwardOp{dz, dq, dp, z, p, size_t(latent), weight});
}
void bound_logvar_forward(cudaStream_t s, float* out, const float* stats, int rows, int latent, float clamp,
                          float floor) {
  for_each(s, elements(rows, latent), BoundLogvarForwardOp{out, stats, size_t(latent), clamp, floor});
}
void bound_logvar_backward(cudaStream_t s, float* dstats, const float* dout, const float* stats, int rows, int latent,
                           float clamp, float floor) {
  for_each(s, elements(rows, latent), BoundLogvarBackwardOp{dstats, dout, stats, size_t(latent), clamp, floor});
}

}  // namespace cudak
}  // namespace elbo
