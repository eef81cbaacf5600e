// Kernels of the Gaussian-mixture ops (VampPrior, total correlation): every sample's
// log-density under every component (or per dimension), its backward, and the sample's own
// posterior log-density. One thread per output element sums its terms in the CPU
// backend's order (in double), so results are deterministic and within rounding of the
// CPU's; exp(-logvar) is computed per use.
#include "cuda_kernels.h"
#include "cuda_launch.cuh"

namespace elbo {
namespace cudak {
namespace {

constexpr int kThreadsPerBlock = 128;

// One thread per output element (these kernels do not stride): blocks to cover n.
int grid_for(size_t n) { return int((n + kThreadsPerBlock - 1) / kThreadsPerBlock); }

// out[i*m + k]: thread per (i, k).
__global__ void pairs_kernel(float* out, const float* z, const float* stats, int n, int m, int latent) {
  const size_t t = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= size_t(n) * size_t(m)) return;
  const size_t i = t / m, k = t % m;
  const float* mu = stats + k * 2 * latent;
  double acc = 0.0;
  for (int j = 0; j < latent; ++j) {
    const float logvar = mu[latent + j];
    acc += gaussian_log_density_iv(z[i * latent + j], mu[j], logvar, expf(-logvar));
  }
  out[t] = float(acc);
}

// out[(i*latent + j)*m + k]: thread per entry (per_dimension).
__global__ void dim_pairs_kernel(float* out, const float* z, const float* stats, int n, int m, int latent) {
  const size_t t = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= size_t(n) * size_t(latent) * size_t(m)) return;
  const size_t k = t % m, ij = t / m;  // ij = i*latent + j
  const size_t j = ij % latent;
  const float* mu = stats + k * 2 * latent;
  const float logvar = mu[latent + j];
  out[t] = gaussian_log_density_iv(z[ij], mu[j], logvar, expf(-logvar));
}

// The gradient of entry (sample i, component k, dimension j) in dout's layout.
__device__ float pair_grad(const float* dout, size_t i, size_t k, size_t j, int m, int latent, bool per_dimension) {
  return dout[per_dimension ? (i * latent + j) * m + k : i * m + k];
}

// dz[i, j]: thread per (i, j), components k in order.
__global__ void pairs_dz_kernel(float* dz, const float* dout, const float* z, const float* stats, int n, int m,
                                int latent, bool per_dimension) {
  const size_t t = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= size_t(n) * size_t(latent)) return;
  const size_t i = t / latent, j = t % latent;
  const float zij = z[t];
  double acc = 0.0;
  for (int k = 0; k < m; ++k) {
    const float* mu = stats + size_t(k) * 2 * latent;
    acc += double(pair_grad(dout, i, size_t(k), j, m, latent, per_dimension)) *
           gaussian_log_density_grad_z(zij, mu[j], expf(-mu[latent + j]));
  }
  dz[t] += float(acc);
}

// dstats[k, (mu | logvar) j]: thread per (k, j), samples i in order.
__global__ void pairs_dstats_kernel(float* dstats, const float* dout, const float* z, const float* stats, int n,
                                    int m, int latent, bool per_dimension) {
  const size_t t = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= size_t(m) * size_t(latent)) return;
  const size_t k = t / latent, j = t % latent;
  const float mu = stats[k * 2 * latent + j], iv = expf(-stats[k * 2 * latent + latent + j]);
  double dmu = 0.0, dlogvar = 0.0;
  for (int i = 0; i < n; ++i) {
    const float g = pair_grad(dout, size_t(i), k, j, m, latent, per_dimension), zij = z[size_t(i) * latent + j];
    dmu -= double(g) * gaussian_log_density_grad_z(zij, mu, iv);
    dlogvar += double(g) * gaussian_log_density_grad_logvar(zij, mu, iv);
  }
  dstats[k * 2 * latent + j] += float(dmu);
  dstats[k * 2 * latent + latent + j] += float(dlogvar);
}

// out[r]: thread per row.
__global__ void posterior_log_density_kernel(float* out, const float* eps, const float* stats, int rows, int latent) {
  const size_t r = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= size_t(rows)) return;
  const float* logvar = stats + r * 2 * latent + latent;
  double acc = 0.0;
  for (int j = 0; j < latent; ++j) acc += posterior_log_density_term(eps[r * latent + j], logvar[j]);
  out[r] = float(acc);
}

struct PosteriorLogDensityBackwardOp {
  float* dstats;
  size_t latent;
  Weight weight;
  __device__ void operator()(size_t t) const {
    const size_t r = t / latent, j = t % latent;
    dstats[r * 2 * latent + latent + j] += -kNegLogPosteriorGradLogvar * weight.at(r);
  }
};

}  // namespace

void gaussian_log_density_pairs(cudaStream_t s, float* out, const float* z, const float* stats, int n, int m,
                                int latent, bool per_dimension) {
  if (n <= 0 || m <= 0) return;
  if (per_dimension) {
    if (latent <= 0) return;  // no entries
    const size_t count = size_t(n) * size_t(latent) * size_t(m);
    dim_pairs_kernel<<<grid_for(count), kThreadsPerBlock, 0, s>>>(out, z, stats, n, m, latent);
  } else {
    pairs_kernel<<<grid_for(size_t(n) * size_t(m)), kThreadsPerBlock, 0, s>>>(out, z, stats, n, m, latent);
  }
  CUDA_CHECK_LAUNCH();
}

void gaussian_log_density_pairs_backward(cudaStream_t s, float* dz, float* dstats, const float* dout, const float* z,
                                         const float* stats, int n, int m, int latent, bool per_dimension) {
  if (n <= 0 || m <= 0 || latent <= 0) return;
  if (dz) {
    pairs_dz_kernel<<<grid_for(size_t(n) * latent), kThreadsPerBlock, 0, s>>>(dz, dout, z, stats, n, m, latent,
                                                                              per_dimension);
    CUDA_CHECK_LAUNCH();
  }
  if (dstats) {
    pairs_dstats_kernel<<<grid_for(size_t(m) * latent), kThreadsPerBlock, 0, s>>>(dstats, dout, z, stats, n, m,
                                                                                      latent, per_dimension);
    CUDA_CHECK_LAUNCH();
  }
}

void posterior_log_density(cudaStream_t s, float* out, const float* eps, const float* stats, int rows, int latent) {
  if (rows <= 0) return;
  posterior_log_density_kernel<<<grid_for(size_t(rows)), kThreadsPerBlock, 0, s>>>(out, eps, stats, rows, latent);
  CUDA_CHECK_LAUNCH();
}

void posterior_log_density_backward(cudaStream_t s, float* dstats, int rows, int latent, Weight weight) {
  if (rows <= 0 || latent <= 0) return;
  for_each(s, size_t(rows) * size_t(latent), PosteriorLogDensityBackwardOp{dstats, size_t(latent), weight});
}

}  // namespace cudak
}  // namespace elbo
