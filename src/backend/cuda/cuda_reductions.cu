// Reduction kernels of the CUDA backend. Determinism: every sum runs in double over
// a fixed assignment of elements to threads and a fixed shared-memory tree, with no
// atomics, so the same inputs give the same bits on every run. Double accumulation
// also keeps the results within float rounding of the CPU backend's sequential
// double sums.
#include <cmath>

#include "cuda_kernels.h"
#include "cuda_launch.cuh"

namespace elbo {
namespace cudak {
namespace {

constexpr int kRowThreads = 128;  // per-row reductions: rows are 10..10^4 wide

// Sum of every thread's v over the block (blockDim.x == N, a power of two); valid in thread 0.
template <int N>
__device__ double block_sum(double v, double* shared) {
  const int t = threadIdx.x;
  shared[t] = v;
  __syncthreads();
  for (int half = N / 2; half > 0; half /= 2) {
    if (t < half) shared[t] += shared[t + half];
    __syncthreads();
  }
  return shared[0];
}

// out[r] (= or +=) sum_j term(r, j): one block per row, thread t takes j = t, t + N, ...
template <class Term>
__global__ void row_sum_kernel(float* out, int cols, Term term, bool accumulate) {
  __shared__ double shared[kRowThreads];
  const size_t r = blockIdx.x;
  double acc = 0.0;
  for (int j = threadIdx.x; j < cols; j += kRowThreads) acc += double(term(r, size_t(j)));
  const double total = block_sum<kRowThreads>(acc, shared);
  if (threadIdx.x == 0) {
    if (accumulate) out[r] += float(total);
    else out[r] = float(total);
  }
}

template <class Term>
void row_sum(cudaStream_t s, float* out, int rows, int cols, const Term& term, bool accumulate) {
  if (rows <= 0) return;
  row_sum_kernel<<<rows, kRowThreads, 0, s>>>(out, cols < 0 ? 0 : cols, term, accumulate);
  CUDA_CHECK_LAUNCH();
}

struct KlTerm {
  const float* stats;
  size_t latent;
  __device__ float operator()(size_t r, size_t j) const {
    const float* mu = stats + r * 2 * latent;
    return kl_std_normal(mu[j], mu[latent + j]);
  }
};
struct BernoulliTerm {
  const float* logits;
  const float* x;
  size_t dim;
  __device__ float operator()(size_t r, size_t j) const { return bernoulli_nll(logits[r * dim + j], x[r * dim + j]); }
};
struct GaussianTerm {
  const float* out;
  const float* x;
  size_t dim;
  __device__ float operator()(size_t r, size_t j) const {
    const float* mean = out + r * 2 * dim;
    return gaussian_nll(x[r * dim + j], mean[j], mean[dim + j]);
  }
};
struct DlogisticTerm {
  const float* out;
  const float* x;
  size_t dim;
  __device__ float operator()(size_t r, size_t j) const {
    const float* mean = out + r * 2 * dim;
    return dlogistic_nll(x[r * dim + j], mean[j], mean[dim + j]).nll;
  }
};
// log p(z) - log q(z|x); log q with z = mu + sigma*eps is log N(eps; 0, 1) - log sigma.
struct PriorMinusPosteriorTerm {
  const float* z;
  const float* eps;
  const float* stats;
  size_t latent;
  __device__ float operator()(size_t r, size_t j) const {
    const size_t i = r * latent + j;
    const float logvar = stats[r * 2 * latent + latent + j];
    return std_normal_log_density(z[i]) - (std_normal_log_density(eps[i]) - 0.5f * logvar);
  }
};

// out[r] = logsumexp_k in[r, k] - log(k_count), in double after the float max, like the CPU backend.
__global__ void log_mean_exp_kernel(float* out, const float* in, int k_count) {
  __shared__ double shared[kRowThreads];
  __shared__ float row_max;
  const float* row = in + size_t(blockIdx.x) * k_count;
  if (threadIdx.x == 0) {
    // The max is exact in any order; one thread keeps it simple (k_count is small: importance samples).
    float mx = row[0];
    for (int k = 1; k < k_count; ++k) mx = row[k] > mx ? row[k] : mx;
    row_max = mx;
  }
  __syncthreads();
  const float mx = row_max;
  double acc = 0.0;
  for (int k = threadIdx.x; k < k_count; k += kRowThreads) acc += exp(double(row[k]) - mx);
  const double total = block_sum<kRowThreads>(acc, shared);
  if (threadIdx.x == 0) out[blockIdx.x] = float(mx + log(total) - log(double(k_count)));
}

// Block (32, 8): column c = blockIdx.x*32 + threadIdx.x, row lane threadIdx.y takes rows y, y+8, ...
constexpr int kBiasCols = 32, kBiasLanes = 8;
__global__ void bias_grad_kernel(float* db, const float* dy, int rows, int cols) {
  __shared__ double partial[kBiasLanes][kBiasCols];
  const int c = blockIdx.x * kBiasCols + threadIdx.x;
  double acc = 0.0;
  if (c < cols)
    for (int r = threadIdx.y; r < rows; r += kBiasLanes) acc += dy[size_t(r) * cols + c];
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    double total = 0.0;
    for (int lane = 0; lane < kBiasLanes; ++lane) total += partial[lane][threadIdx.x];
    db[c] += float(total);
  }
}

// ---- whole-buffer reductions ----
struct Identity {
  __device__ double operator()(float x) const { return double(x); }
};
struct Square {
  __device__ double operator()(float x) const { return double(x) * double(x); }
};
struct NonFinite {
  __device__ double operator()(float x) const { return isfinite(x) ? 0.0 : 1.0; }
};
struct ToFloat {
  __device__ float operator()(double s) const { return float(s); }
};
struct NoneCounted {
  __device__ float operator()(double s) const { return s == 0.0 ? 1.0f : 0.0f; }
};

template <class Transform>
__global__ void partial_sums_kernel(double* partial, const float* x, size_t n, Transform f) {
  __shared__ double shared[kThreads];
  const size_t stride = size_t(gridDim.x) * kThreads;
  double acc = 0.0;
  for (size_t i = size_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) acc += f(x[i]);
  const double total = block_sum<kThreads>(acc, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// One thread block per partial: its threads stride over the block's elements, then a
// fixed tree adds them (deterministic; the block's size does not depend on the grid).
__global__ void block_sum_squares_kernel(float* out, const float* x, size_t n, size_t block) {
  __shared__ double shared[kThreads];
  const size_t begin = size_t(blockIdx.x) * block, end = begin + block < n ? begin + block : n;
  double acc = 0.0;
  for (size_t i = begin + threadIdx.x; i < end; i += kThreads) acc += Square{}(x[i]);
  const double total = block_sum<kThreads>(acc, shared);
  if (threadIdx.x == 0) out[blockIdx.x] = float(total);
}

template <class Finish>
__global__ void finish_sum_kernel(float* out, const double* partial, int count, Finish finish) {
  __shared__ double shared[kThreads];
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += kThreads) acc += partial[i];
  const double total = block_sum<kThreads>(acc, shared);
  if (threadIdx.x == 0) out[0] = finish(total);
}

template <class Transform, class Finish>
void reduce_all(cudaStream_t s, float* out, const float* x, size_t n, double* scratch, Transform f, Finish finish) {
  // Each block covers at least 4 elements per thread before striding, so small buffers use few blocks.
  const size_t per_block = size_t(kThreads) * 4;
  const int blocks = n == 0 ? 1 : int(std::min<size_t>((n + per_block - 1) / per_block, size_t(kReduceBlocks)));
  partial_sums_kernel<<<blocks, kThreads, 0, s>>>(scratch, x, n, f);
  CUDA_CHECK_LAUNCH();
  finish_sum_kernel<<<1, kThreads, 0, s>>>(out, scratch, blocks, finish);
  CUDA_CHECK_LAUNCH();
}

// One thread per latent dimension adds the rows in order, in double like the CPU backend
// (latent widths are tens to hundreds: a row-parallel tree is not worth it here).
__global__ void kl_dim_sums_kernel(float* sums, const float* stats, int rows, int latent) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= latent) return;
  double acc = 0.0;
  for (int r = 0; r < rows; ++r) {
    const float* mu = stats + size_t(r) * 2 * latent;
    acc += kl_std_normal(mu[j], mu[latent + j]);
  }
  sums[j] = float(acc);
}
}  // namespace

void kl_forward(cudaStream_t s, float* kl_per_row, const float* stats, int rows, int latent) {
  row_sum(s, kl_per_row, rows, latent, KlTerm{stats, size_t(latent)}, false);
}
void kl_dim_sums(cudaStream_t s, float* sums, const float* stats, int rows, int latent) {
  if (latent <= 0) return;
  kl_dim_sums_kernel<<<(latent + kRowThreads - 1) / kRowThreads, kRowThreads, 0, s>>>(sums, stats, rows, latent);
  CUDA_CHECK_LAUNCH();
}
void bernoulli_nll_forward(cudaStream_t s, float* nll_per_row, const float* logits, const float* x, int rows,
                           int dim) {
  row_sum(s, nll_per_row, rows, dim, BernoulliTerm{logits, x, size_t(dim)}, false);
}
void gaussian_nll_forward(cudaStream_t s, float* nll_per_row, const float* out, const float* x, int rows, int dim) {
  row_sum(s, nll_per_row, rows, dim, GaussianTerm{out, x, size_t(dim)}, false);
}
void dlogistic_nll_forward(cudaStream_t s, float* nll_per_row, const float* out, const float* x, int rows, int dim) {
  row_sum(s, nll_per_row, rows, dim, DlogisticTerm{out, x, size_t(dim)}, false);
}
void prior_minus_posterior_log_density(cudaStream_t s, float* logw, const float* z, const float* eps,
                                       const float* stats, int rows, int latent) {
  row_sum(s, logw, rows, latent, PriorMinusPosteriorTerm{z, eps, stats, size_t(latent)}, true);
}
void log_mean_exp_rows(cudaStream_t s, float* out, const float* in, int rows, int k_count) {
  if (rows <= 0) return;
  ELBO_CHECK(k_count > 0, "log_mean_exp_rows: k_count must be > 0, got " << k_count);
  log_mean_exp_kernel<<<rows, kRowThreads, 0, s>>>(out, in, k_count);
  CUDA_CHECK_LAUNCH();
}
void bias_grad(cudaStream_t s, float* db, const float* dy, int rows, int cols) {
  if (cols <= 0) return;
  const dim3 block(kBiasCols, kBiasLanes);
  bias_grad_kernel<<<(cols + kBiasCols - 1) / kBiasCols, block, 0, s>>>(db, dy, rows < 0 ? 0 : rows, cols);
  CUDA_CHECK_LAUNCH();
}

void sum(cudaStream_t s, float* out, const float* x, size_t n, double* scratch) {
  reduce_all(s, out, x, n, scratch, Identity{}, ToFloat{});
}
void sum_squares_blocks(cudaStream_t s, float* out, const float* x, size_t n, size_t block) {
  if (n == 0) return;
  const size_t blocks = (n + block - 1) / block;
  ELBO_CHECK(blocks <= size_t(INT32_MAX), "sum_squares_blocks: " << blocks << " blocks exceed one grid");
  block_sum_squares_kernel<<<unsigned(blocks), kThreads, 0, s>>>(out, x, n, block);
  CUDA_CHECK_LAUNCH();
}
void all_finite(cudaStream_t s, float* out, const float* x, size_t n, double* scratch) {
  reduce_all(s, out, x, n, scratch, NonFinite{}, NoneCounted{});
}

}  // namespace cudak
}  // namespace elbo
