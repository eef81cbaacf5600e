// Kernels of the layer ops of hierarchical models: element-wise ones index like the CPU
// loops of src/backend/cpu/cpu_layers.cc; group and weight norm give each reduction one
// block (a fixed shared-memory tree in double), then write their elements from it.
#include "cuda_launch.cuh"
#include "cuda_layers.h"
#include "elbo/kernels/layer_math.h"

namespace elbo {
namespace cudak {
namespace {

constexpr int kBlock = 256;  // threads per reduction block (a power of two)

// The sum of every thread's v, returned to every thread. Starts with a barrier, so the
// shared array may be reused right after the previous call's result was read.
__device__ double block_total(double v, double* shared) {
  const int t = threadIdx.x;
  __syncthreads();
  shared[t] = v;
  __syncthreads();
  for (int half = kBlock / 2; half > 0; half /= 2) {
    if (t < half) shared[t] += shared[t + half];
    __syncthreads();
  }
  return shared[0];
}

__device__ void put(float* dst, float v, bool accumulate) { *dst = accumulate ? *dst + v : v; }

// dx may be dy (in place): no __restrict, each element reads its dy before writing its dx.
struct ActBackwardFromInputOp {
  float* dx;
  const float* dy;
  const float* x;
  Activation act;
  __device__ void operator()(size_t i) const { dx[i] = dy[i] * act_grad_from_input(act, x[i]); }
};
struct CopyColumnsOp {
  float* dst;
  const float* src;
  size_t dst_stride, src_stride, cols;
  bool accumulate;
  __device__ void operator()(size_t i) const {
    const size_t r = i / cols, j = i % cols;
    put(dst + r * dst_stride + j, src[r * src_stride + j], accumulate);
  }
};
// i over the big planes (2h x 2w each).
struct Upsample2xOp {
  float* big;
  const float* small;
  size_t h, w;
  float alpha;
  bool accumulate;
  __device__ void operator()(size_t i) const {
    const size_t bw = 2 * w, x = i % bw, y = (i / bw) % (2 * h), p = i / (bw * 2 * h);
    put(big + i, alpha * small[(p * h + y / 2) * w + x / 2], accumulate);
  }
};
// i over the small planes; the 2x2 block summed in the CPU's order.
struct SumPool2xOp {
  float* small;
  const float* big;
  size_t w;
  float alpha;
  bool accumulate;
  __device__ void operator()(size_t i) const {
    const size_t q = i / w, j = i % w;  // q = p * h + row: the block's top big row is 2q
    const float* top = big + 2 * q * 2 * w;
    const float* bottom = top + 2 * w;
    put(small + i, alpha * (((top[2 * j] + top[2 * j + 1]) + bottom[2 * j]) + bottom[2 * j + 1]), accumulate);
  }
};

// Block k = sample * groups + group; its m = cpg * hw elements are contiguous from k * m.
__global__ void group_norm_forward_kernel(float* y, float* stats, const float* x, const float* gamma,
                                          const float* beta, size_t cpg, size_t hw, int groups, float eps) {
  __shared__ double shared[kBlock];
  const size_t k = blockIdx.x, m = cpg * hw, first = k * m, ch0 = (k % size_t(groups)) * cpg;
  double acc = 0.0;
  for (size_t i = threadIdx.x; i < m; i += kBlock) acc += x[first + i];
  const double mean = block_total(acc, shared) / double(m);
  acc = 0.0;
  for (size_t i = threadIdx.x; i < m; i += kBlock) acc += (x[first + i] - mean) * (x[first + i] - mean);
  const float mean_f = float(mean), rstd = group_norm_rstd(block_total(acc, shared) / double(m), eps);
  if (threadIdx.x == 0) {
    stats[2 * k] = mean_f;
    stats[2 * k + 1] = rstd;
  }
  for (size_t i = threadIdx.x; i < m; i += kBlock) {
    const size_t ch = ch0 + i / hw;
    y[first + i] = group_norm_value(x[first + i], mean_f, rstd, gamma[ch], beta[ch]);
  }
}

// Block = channel: dgamma += sum dy * xhat, dbeta += sum dy over samples and pixels.
__global__ void group_norm_param_grad_kernel(float* dgamma, float* dbeta, const float* dy, const float* x,
                                             const float* stats, int n, int c, size_t hw, size_t cpg, int groups) {
  __shared__ double shared[kBlock];
  const size_t ch = blockIdx.x, count = size_t(n) * hw;
  double dg = 0.0, db = 0.0;
  for (size_t t = threadIdx.x; t < count; t += kBlock) {
    const size_t s = t / hw, i = t % hw, k = s * groups + ch / cpg, at = (s * c + ch) * hw + i;
    dg += double(dy[at]) * group_norm_xhat(x[at], stats[2 * k], stats[2 * k + 1]);
    db += dy[at];
  }
  const double total_g = block_total(dg, shared), total_b = block_total(db, shared);
  if (threadIdx.x == 0) {
    dgamma[ch] += float(total_g);
    dbeta[ch] += float(total_b);
  }
}

__global__ void group_norm_input_grad_kernel(float* dx, const float* dy, const float* x, const float* stats,
                                             const float* gamma, size_t cpg, size_t hw, int groups, bool accumulate) {
  __shared__ double shared[kBlock];
  const size_t k = blockIdx.x, m = cpg * hw, first = k * m, ch0 = (k % size_t(groups)) * cpg;
  const float mean = stats[2 * k], rstd = stats[2 * k + 1];
  double sg = 0.0, sgx = 0.0;
  for (size_t i = threadIdx.x; i < m; i += kBlock) {
    const float g = dy[first + i] * gamma[ch0 + i / hw];
    sg += g;
    sgx += double(g) * group_norm_xhat(x[first + i], mean, rstd);
  }
  const float mean_g = float(block_total(sg, shared) / double(m));
  const float mean_gx = float(block_total(sgx, shared) / double(m));
  for (size_t i = threadIdx.x; i < m; i += kBlock) {
    const float xhat = group_norm_xhat(x[first + i], mean, rstd);
    put(dx + first + i, group_norm_grad_input(dy[first + i], gamma[ch0 + i / hw], xhat, rstd, mean_g, mean_gx),
        accumulate);
  }
}

__global__ void weight_norm_forward_kernel(float* w, float* norms, const float* v, const float* g, size_t cols) {
  __shared__ double shared[kBlock];
  const size_t r = blockIdx.x;
  const float* vr = v + r * cols;
  double sq = 0.0;
  for (size_t j = threadIdx.x; j < cols; j += kBlock) sq += double(vr[j]) * vr[j];
  const float norm = float(sqrt(block_total(sq, shared))), factor = weight_norm_factor(g[r], norm);
  if (threadIdx.x == 0) norms[r] = norm;
  for (size_t j = threadIdx.x; j < cols; j += kBlock) w[r * cols + j] = factor * vr[j];
}

__global__ void weight_norm_backward_kernel(float* dv, float* dg, const float* dw, const float* v, const float* g,
                                            const float* norms, size_t cols) {
  __shared__ double shared[kBlock];
  const size_t r = blockIdx.x;
  const float* vr = v + r * cols;
  const float* dwr = dw + r * cols;
  double dot = 0.0;
  for (size_t j = threadIdx.x; j < cols; j += kBlock) dot += double(dwr[j]) * vr[j];
  dot = block_total(dot, shared);
  const float norm = norms[r], factor = weight_norm_factor(g[r], norm);
  if (threadIdx.x == 0 && norm > 0.0f) dg[r] += float(dot / norm);
  const float dot_over_norm2 = norm > 0.0f ? float(dot / (double(norm) * norm)) : 0.0f;
  for (size_t j = threadIdx.x; j < cols; j += kBlock) dv[r * cols + j] += weight_norm_grad_v(dwr[j], vr[j], factor, dot_over_norm2);
}

struct EmbeddingForwardOp {
  float* y;
  const float* table;
  const float* index;
  size_t dim;
  int classes;
  __device__ void operator()(size_t i) const {
    const int k = embedding_row(index[i / dim], classes);
    y[i] = k >= 0 ? table[size_t(k) * dim + i % dim] : 0.0f;
  }
};
// i = k * dim + j over the table: the rows of class k, in order.
struct EmbeddingBackwardOp {
  float* dtable;
  const float* dy;
  const float* index;
  size_t dim;
  int rows, classes;
  __device__ void operator()(size_t i) const {
    const int k = int(i / dim);
    const size_t j = i % dim;
    double acc = 0.0;
    bool seen = false;
    for (int r = 0; r < rows; ++r)
      if (embedding_row(index[r], classes) == k) {
        acc += dy[size_t(r) * dim + j];
        seen = true;
      }
    if (seen) dtable[i] += float(acc);
  }
};

size_t count(int a, size_t b) { return size_t(a < 0 ? 0 : a) * b; }

}  // namespace

void act_backward_from_input(cudaStream_t s, float* dx, const float* dy, const float* x, size_t n, Activation act) {
  for_each(s, n, ActBackwardFromInputOp{dx, dy, x, act});
}
void copy_columns(cudaStream_t s, float* dst, size_t dst_stride, const float* src, size_t src_stride, int rows,
                  size_t cols, bool accumulate) {
  if (cols == 0) return;
  for_each(s, count(rows, cols), CopyColumnsOp{dst, src, dst_stride, src_stride, cols, accumulate});
}
void upsample2x(cudaStream_t s, float* big, const float* small, int planes, int h, int w, float alpha,
                bool accumulate) {
  if (h <= 0 || w <= 0) return;
  for_each(s, count(planes, 4 * size_t(h) * size_t(w)), Upsample2xOp{big, small, size_t(h), size_t(w), alpha, accumulate});
}
void sum_pool2x(cudaStream_t s, float* small, const float* big, int planes, int h, int w, float alpha,
                bool accumulate) {
  if (h <= 0 || w <= 0) return;
  for_each(s, count(planes, size_t(h) * size_t(w)), SumPool2xOp{small, big, size_t(w), alpha, accumulate});
}

void group_norm_forward(cudaStream_t s, float* y, float* stats, const float* x, const float* gamma, const float* beta,
                        int n, int c, int hw, int groups, float eps) {
  if (n <= 0) return;
  group_norm_forward_kernel<<<unsigned(n) * unsigned(groups), kBlock, 0, s>>>(y, stats, x, gamma, beta,
                                                                               size_t(c / groups), size_t(hw), groups, eps);
  CUDA_CHECK_LAUNCH();
}
void group_norm_backward(cudaStream_t s, float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* stats, const float* gamma, int n, int c, int hw, int groups, bool accumulate) {
  const size_t cpg = size_t(c / groups);
  if (c <= 0) return;
  group_norm_param_grad_kernel<<<unsigned(c), kBlock, 0, s>>>(dgamma, dbeta, dy, x, stats, n, c, size_t(hw), cpg,
                                                              groups);
  CUDA_CHECK_LAUNCH();
  if (!dx || n <= 0) return;
  group_norm_input_grad_kernel<<<unsigned(n) * unsigned(groups), kBlock, 0, s>>>(dx, dy, x, stats, gamma, cpg,
                                                                                  size_t(hw), groups, accumulate);
  CUDA_CHECK_LAUNCH();
}

void weight_norm_forward(cudaStream_t s, float* w, float* norms, const float* v, const float* g, int rows, int cols) {
  if (rows <= 0) return;
  weight_norm_forward_kernel<<<unsigned(rows), kBlock, 0, s>>>(w, norms, v, g, size_t(cols));
  CUDA_CHECK_LAUNCH();
}
void weight_norm_backward(cudaStream_t s, float* dv, float* dg, const float* dw, const float* v, const float* g,
                          const float* norms, int rows, int cols) {
  if (rows <= 0) return;
  weight_norm_backward_kernel<<<unsigned(rows), kBlock, 0, s>>>(dv, dg, dw, v, g, norms, size_t(cols));
  CUDA_CHECK_LAUNCH();
}

void embedding_forward(cudaStream_t s, float* y, const float* table, const float* index, int rows, int classes,
                       int dim) {
  for_each(s, count(rows, size_t(dim < 0 ? 0 : dim)), EmbeddingForwardOp{y, table, index, size_t(dim), classes});
}
void embedding_backward(cudaStream_t s, float* dtable, const float* dy, const float* index, int rows, int classes,
                        int dim) {
  for_each(s, count(classes, size_t(dim < 0 ? 0 : dim)), EmbeddingBackwardOp{dtable, dy, index, size_t(dim), rows, classes});
}

}  // namespace cudak
}  // namespace elbo
