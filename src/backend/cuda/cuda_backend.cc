// CudaBackend: memory, copies, cuBLAS GEMM and graph capture on the host side;
// the kernels live in cuda_elementwise.cu and cuda_reductions.cu.
#include "cuda_backend.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>

#include "cuda_check.h"
#include "cuda_kernels.h"
#if defined(ELBO_WITH_CUDNN)
#include "cudnn_conv.h"
#endif

namespace elbo {
namespace {

// cuBLAS needs a user-provided workspace to be safe under graph capture (it would
// otherwise allocate on first use); 32 MiB is NVIDIA's recommendation for Hopper.
constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;

const char* precision_name(GemmPrecision p) {
  switch (p) {
    case GemmPrecision::kTF32: return "TF32";
    case GemmPrecision::kBF16: return "BF16";
    default: return "FP32";
  }
}

size_t bytes_of(size_t n) { return (n ? n : 1) * sizeof(float); }

}  // namespace

CudaBackend::CudaBackend(int device_index, GemmPrecision precision) : device_(device_index), precision_(precision) {
  try {
    CUDA_CHECK(cudaSetDevice(device_));
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
    std::ostringstream name;
    name << "cuda:" << device_ << " (" << prop.name << ", sm_" << prop.major << prop.minor << ", cuBLAS "
         << precision_name(precision_) << ")";
    name_ = name.str();

    // Non-blocking: never serialises with the legacy default stream that other code may use.
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    for (cudaEvent_t& e : markers_) CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&sync_event_, cudaEventDisableTiming));

    int pools = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device_));
    stream_ordered_alloc_ = pools != 0;
    if (stream_ordered_alloc_) {
      // Keep freed blocks in the pool: with the default threshold (0) every synchronisation
      // hands memory back to the driver and the next step maps it again.
      cudaMemPool_t pool;
      CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device_));
      uint64_t keep = UINT64_MAX;
      CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    }

    CUBLAS_CHECK(cublasCreate(&cublas_));
    CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    // After cublasSetStream, which resets the workspace to the library's default pool.
    CUDA_CHECK(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes));
    CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
    // FP32 means FP32: no silent TF32 for cublasSgemm (TF32/BF16 are asked for per call).
    CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));

    CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&reduce_scratch_), sizeof(double) * cudak::kReduceBlocks));
  } catch (...) {
    free_resources();  // the destructor does not run for a constructor that throws
    throw;
  }
}

CudaBackend::~CudaBackend() {
#if defined(ELBO_WITH_CUDNN)
  conv_.reset();  // its cuDNN handle works on stream_, which free_resources() destroys
#endif
  free_resources();
}

void CudaBackend::free_resources() noexcept {
  // Never throws: errors here (a device already in an error state) are ignored.
  cudaSetDevice(device_);
  if (capturing_) {
    cudaGraph_t g = nullptr;
    if (cudaStreamEndCapture(stream_, &g) == cudaSuccess && g) cudaGraphDestroy(g);
    capturing_ = false;
  }
  if (stream_) cudaStreamSynchronize(stream_);
  free_released_in_capture();
  if (graph_exec_) cudaGraphExecDestroy(graph_exec_);
  if (cublas_) cublasDestroy(cublas_);
  if (cublas_workspace_) cudaFree(cublas_workspace_);
  if (reduce_scratch_) cudaFree(reduce_scratch_);
  for (cudaEvent_t& e : markers_)
    if (e) cudaEventDestroy(e), e = nullptr;
  if (sync_event_) cudaEventDestroy(sync_event_), sync_event_ = nullptr;
  if (stream_) cudaStreamDestroy(stream_);
  graph_exec_ = nullptr;
  cublas_ = nullptr;
  cublas_workspace_ = nullptr;
  reduce_scratch_ = nullptr;
  stream_ = nullptr;
  cudaGetLastError();  // leave no error behind for the next user of the runtime
}

uint64_t CudaBackend::enqueue_marker() {
  require_not_capturing("enqueue_marker()");
  make_current();
  const uint64_t marker = next_marker_++;
  CUDA_CHECK(cudaEventRecord(markers_[marker % kMarkerRing], stream_));
  return marker;
}

void CudaBackend::wait_marker(uint64_t marker) {
  if (marker == 0) return;
  // An event slot re-recorded since holds a later point of the queue: waiting for it
  // waits longer than needed but never too little.
  ELBO_CHECK(marker < next_marker_, name_ << ": wait for marker " << marker << " that was never enqueued");
  make_current();
  wait_event("wait_marker()", markers_[marker % kMarkerRing]);
}

void CudaBackend::wait_stream(const char* what) {
  CUDA_CHECK(cudaEventRecord(sync_event_, stream_));
  wait_event(what, sync_event_);
}

void CudaBackend::wait_event(const char* what, cudaEvent_t event) {
  // Polled rather than cudaEventSynchronize: the work waited for may follow an NCCL
  // collective (eager, or inside a replayed graph) that never completes when a peer
  // died, and only polling lets the wait monitor ask NCCL for its asynchronous errors.
  // Yielding between polls costs what CUDA's default spin-wait costs.
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const cudaError_t q = cudaEventQuery(event);
    if (q == cudaSuccess) return;
    if (q != cudaErrorNotReady) {
      cudaGetLastError();
      ELBO_FAIL("CUDA error in " << name_ << " " << what << ": " << cudaGetErrorName(q) << ": "
                                 << cudaGetErrorString(q));
    }
    if (wait_monitor_)
      wait_monitor_(what, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    std::this_thread::yield();
  }
}

cudaError_t CudaBackend::select_device() const noexcept {
  // Only switch when needed: a query is the cheapest call, and harmless during capture.
  int current = -1;
  cudaError_t err = cudaGetDevice(&current);
  if (err == cudaSuccess && current != device_) err = cudaSetDevice(device_);
  return err;
}

void CudaBackend::make_current() const { CUDA_CHECK(select_device()); }

void CudaBackend::report_cleanup(const char* what, cudaError_t err) const noexcept {
  cudaGetLastError();  // a non-sticky error must not resurface at the next check
  char detail[512];
  std::snprintf(detail, sizeof detail, "%s: %s: %s", name_.c_str(), cudaGetErrorName(err), cudaGetErrorString(err));
  report_cleanup_error(what, detail);
}

void CudaBackend::require_not_capturing(const char* what) const {
  ELBO_CHECK(!capturing_, name_ << ": " << what
                                << " is not allowed while a CUDA graph is being captured "
                                   "(allocate buffers and read results outside capture_begin()/capture_end())");
}

// ---- memory ----

float* CudaBackend::alloc(size_t n) {
  require_not_capturing("alloc()");
  make_current();
  void* p = nullptr;
  const size_t bytes = bytes_of(n);
  cudaError_t err = stream_ordered_alloc_ ? cudaMallocAsync(&p, bytes, stream_) : cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();  // allocation failures are not sticky: clear it before reporting
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    ELBO_FAIL(name_ << ": cannot allocate " << bytes << " bytes of device memory (" << (free_b >> 20)
                    << " MiB free of " << (total_b >> 20) << " MiB): " << cudaGetErrorString(err));
  }
  // Zero-filled, like the CPU backend; ordered on the stream before any later use.
  graph_memory_.allocated(p);
  CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
  return static_cast<float*>(p);
}

void CudaBackend::release(float* p) noexcept {
  if (!p) return;
  graph_memory_.released(p);
  if (capturing_) {
    // Only while an error unwinds out of a step being captured. Freeing now would
    // record a free into the graph (done again at every replay): free it at the end
    // of the capture instead. Without host memory for the list, the block is lost.
    try {
      released_in_capture_.push_back(p);
    } catch (...) {
    }
    return;
  }
  free_device_memory(p);
}

void CudaBackend::free_device_memory(float* p) noexcept {
  // Stream-ordered: the memory is reused only after the work already enqueued on the
  // stream (which includes every collective that wait_all() joined) has finished.
  // Never throws: after a sticky error (an illegal address in a kernel) every call
  // fails, and the error that is unwinding the stack is the one the user must see.
  cudaError_t err = select_device();
  if (err == cudaSuccess) err = stream_ordered_alloc_ ? cudaFreeAsync(p, stream_) : cudaFree(p);
  if (err != cudaSuccess) report_cleanup("releasing device memory", err);
}

void CudaBackend::free_released_in_capture() noexcept {
  for (float* p : released_in_capture_) free_device_memory(p);
  released_in_capture_.clear();
}

void CudaBackend::copy_to_device(float* dst, const float* host_src, size_t n) {
  if (n == 0) return;
  make_current();
  // Pageable sources are staged by the driver before this returns; page-locked ones
  // (alloc_host_staging) are read later, so the caller must not refill them before a sync.
  CUDA_CHECK(cudaMemcpyAsync(dst, host_src, n * sizeof(float), cudaMemcpyHostToDevice, stream_));
}

void CudaBackend::copy_to_host(float* host_dst, const float* src, size_t n) {
  if (n == 0) return;
  require_not_capturing("copy_to_host()");
  make_current();
  CUDA_CHECK(cudaMemcpyAsync(host_dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream_));
  wait_stream("copy_to_host()");
}

void CudaBackend::copy(float* dst, const float* src, size_t n) {
  if (n == 0 || dst == src) return;
  make_current();
  const size_t bytes = n * sizeof(float);
  const bool overlap = dst < src + n && src < dst + n;
  if (!overlap) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
    return;
  }
  // cudaMemcpy leaves overlapping ranges undefined; the CPU backend's memmove allows them.
  float* tmp = alloc(n);
  CUDA_CHECK(cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, stream_));
  CUDA_CHECK(cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToDevice, stream_));
  release(tmp);
}

void CudaBackend::fill_weight(float* x, size_t n, Weight w) {
  if (n == 0) return;
  make_current();
  cudak::fill_weight(stream_, x, n, w);
}
void CudaBackend::fill(float* x, size_t n, float value) {
  if (n == 0) return;
  make_current();
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (bits == 0) CUDA_CHECK(cudaMemsetAsync(x, 0, n * sizeof(float), stream_));  // +0.0f is all zero bytes
  else cudak::fill(stream_, x, n, value);
}

void CudaBackend::synchronize() {
  require_not_capturing("synchronize()");
  make_current();
  wait_stream("synchronize()");
}

float* CudaBackend::alloc_host_staging(size_t n) {
  make_current();
  void* p = nullptr;
  CUDA_CHECK(cudaMallocHost(&p, bytes_of(n)));
  std::memset(p, 0, bytes_of(n));
  return static_cast<float*>(p);
}

void CudaBackend::release_host_staging(float* p) noexcept {
  if (!p) return;
  const cudaError_t err = cudaFreeHost(p);
  if (err != cudaSuccess) report_cleanup("releasing page-locked host memory", err);
}

// ---- graphs ----

bool CudaBackend::capture_begin() {
  if (capturing_) return false;
  make_current();
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream_, &status) != cudaSuccess || status != cudaStreamCaptureStatusNone) {
    cudaGetLastError();
    return false;
  }
  // Global mode: an unsafe call (cudaMalloc, a synchronising copy) from any thread during
  // capture fails loudly instead of silently escaping the graph.
  if (cudaStreamBeginCapture(stream_, cudaStreamCaptureModeGlobal) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  capturing_ = true;
  graph_memory_.capture_began();
  return true;
}

void CudaBackend::capture_end() {
  ELBO_CHECK(capturing_, name_ << ": capture_end() without a successful capture_begin()");
  make_current();
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  cudaError_t err = cudaStreamEndCapture(stream_, &graph);
  free_released_in_capture();
  if (err != cudaSuccess) {
    cudaGetLastError();
    ELBO_FAIL(name_ << ": CUDA graph capture failed: " << cudaGetErrorString(err)
                    << " (an operation that cannot be captured ran during the step, or work forked to "
                       "another stream was not joined back before capture_end())");
  }
  cudaGraphExec_t exec = nullptr;
  err = cudaGraphInstantiateWithFlags(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (err != cudaSuccess) {
    cudaGetLastError();
    ELBO_FAIL(name_ << ": cannot instantiate the captured CUDA graph: " << cudaGetErrorString(err));
  }
  if (graph_exec_) CUDA_CHECK(cudaGraphExecDestroy(graph_exec_));
  graph_exec_ = exec;
}

void CudaBackend::capture_abort() {
  if (!capturing_) return;
  make_current();
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(stream_, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
  cudaGetLastError();  // an invalidated capture reports its error here; it is already known
  free_released_in_capture();
}

void CudaBackend::release_graph() {
  if (!graph_exec_) return;
  make_current();
  // Replays still in flight must finish before the graph goes (and with it the
  // communicator's reference, which the communicator's teardown waits for).
  wait_stream("release_graph()");
  CUDA_CHECK(cudaGraphExecDestroy(graph_exec_));
  graph_exec_ = nullptr;
}

void CudaBackend::replay() {
  ELBO_CHECK(graph_exec_, name_ << ": replay() before a successful capture_begin()/capture_end()");
  make_current();
  CUDA_CHECK(cudaGraphLaunch(graph_exec_, stream_));
}

// ---- dense algebra ----

void CudaBackend::gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, const float* b,
                       float beta, float* c) {
  gemm_in(GemmPrecision::kFP32, GemmArgs{trans_a, trans_b, m, n, k, alpha, a, b, beta, c});
}

void CudaBackend::layer_gemms(const GemmArgs* gemms, int count) {
  for (int i = 0; i < count; ++i) gemm_in(precision_, gemms[i]);
}

void CudaBackend::gemm_in(GemmPrecision precision, const GemmArgs& args) {
  const bool trans_a = args.trans_a, trans_b = args.trans_b;
  const int m = args.m, n = args.n, k = args.k;
  const float alpha = args.alpha, beta = args.beta;
  const float *a = args.a, *b = args.b;
  float* c = args.c;
  ELBO_CHECK(m >= 0 && n >= 0 && k >= 0, name_ << ": gemm with negative size m=" << m << " n=" << n << " k=" << k);
  if (m == 0 || n == 0) return;
  make_current();
  if (k == 0) {  // C = beta * C; BLAS never reads C when beta is 0
    if (beta == 0.0f) fill(c, size_t(m) * n, 0.0f);
    else if (beta != 1.0f) scale(c, size_t(m) * n, beta);
    return;
  }
  // cuBLAS is column-major. Row-major C[m,n] is column-major C^T[n,m], and
  // C^T = op(B)^T op(A)^T: pass B first, A second, swap m and n. A row-major matrix
  // read column-major is its transpose, so the op flags carry over unchanged and the
  // leading dimensions are the row lengths of the stored matrices (as in cblas).
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int lda = trans_a ? m : k;
  const int ldb = trans_b ? k : n;
  if (precision == GemmPrecision::kFP32) {
    CUBLAS_CHECK(cublasSgemm(cublas_, op_b, op_a, n, m, k, &alpha, b, ldb, a, lda, &beta, c, n));
    return;
  }
  // FP32 storage (master weights stay FP32); the tensor cores round the inputs to TF32
  // or BF16 internally and accumulate in FP32.
  const cublasComputeType_t compute =
      precision == GemmPrecision::kTF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_FAST_16BF;
  CUBLAS_CHECK(cublasGemmEx(cublas_, op_b, op_a, n, m, k, &alpha, b, CUDA_R_32F, ldb, a, CUDA_R_32F, lda, &beta, c,
                            CUDA_R_32F, n, compute, CUBLAS_GEMM_DEFAULT));
}

void CudaBackend::bias_act_forward(float* y, const float* bias, int rows, int cols, Activation act) {
  make_current();
  cudak::bias_act_forward(stream_, y, bias, rows, cols, act);
}
void CudaBackend::act_backward(float* dx, const float* dy, const float* y, size_t n, Activation act) {
  make_current();
  cudak::act_backward(stream_, dx, dy, y, n, act);
}
void CudaBackend::bias_grad(float* db, const float* dy, int rows, int cols) {
  make_current();
  cudak::bias_grad(stream_, db, dy, rows, cols);
}
void CudaBackend::axpy(float* y, const float* x, size_t n, float alpha) {
  make_current();
  cudak::axpy(stream_, y, x, n, alpha);
}
void CudaBackend::scale(float* x, size_t n, float alpha) {
  make_current();
  cudak::scale(stream_, x, n, alpha);
}

// ---- stochastic layer, likelihoods, importance weights ----

void CudaBackend::reparameterize(float* z, float* eps, const float* stats, int rows, int latent,
                                 const NoiseKey& key) {
  make_current();
  cudak::reparameterize(stream_, z, eps, stats, rows, latent, key);
}
void CudaBackend::reparameterize_backward(float* dstats, const float* dz, const float* eps, const float* stats,
                                          int rows, int latent) {
  make_current();
  cudak::reparameterize_backward(stream_, dstats, dz, eps, stats, rows, latent);
}
void CudaBackend::kl_forward(float* kl_per_row, const float* stats, int rows, int latent) {
  make_current();
  cudak::kl_forward(stream_, kl_per_row, stats, rows, latent);
}
void CudaBackend::kl_backward(float* dstats, const float* stats, int rows, int latent, Weight weight,
                              const float* dim_scale) {
  make_current();
  cudak::kl_backward(stream_, dstats, stats, rows, latent, weight, dim_scale);
}
void CudaBackend::kl_dim_sums(float* sums, const float* stats, int rows, int latent) {
  make_current();
  cudak::kl_dim_sums(stream_, sums, stats, rows, latent);
}
void CudaBackend::free_bits_gates(float* gate, const float* sums, int latent, float inv_count, float floor_nats) {
  make_current();
  cudak::free_bits_gates(stream_, gate, sums, latent, inv_count, floor_nats);
}
void CudaBackend::bernoulli_nll_forward(float* nll_per_row, const float* logits, const float* x, int rows, int dim) {
  make_current();
  cudak::bernoulli_nll_forward(stream_, nll_per_row, logits, x, rows, dim);
}
void CudaBackend::bernoulli_nll_backward(float* dlogits, const float* logits, const float* x, int rows, int dim,
                                         Weight weight) {
  make_current();
  cudak::bernoulli_nll_backward(stream_, dlogits, logits, x, rows, dim, weight);
}
void CudaBackend::gaussian_nll_forward(float* nll_per_row, const float* out, const float* x, int rows, int dim) {
  make_current();
  cudak::gaussian_nll_forward(stream_, nll_per_row, out, x, rows, dim);
}
void CudaBackend::gaussian_nll_backward(float* dout, const float* out, const float* x, int rows, int dim,
                                        Weight weight) {
  make_current();
  cudak::gaussian_nll_backward(stream_, dout, out, x, rows, dim, weight);
}
void CudaBackend::dlogistic_nll_forward(float* nll_per_row, const float* out, const float* x, int rows, int dim) {
  make_current();
  cudak::dlogistic_nll_forward(stream_, nll_per_row, out, x, rows, dim);
}
void CudaBackend::dlogistic_nll_backward(float* dout, const float* out, const float* x, int rows, int dim,
                                         Weight weight) {
  make_current();
  cudak::dlogistic_nll_backward(stream_, dout, out, x, rows, dim, weight);
}
void CudaBackend::repeat_rows(float* dst, const float* src, int rows, int cols, int times) {
  make_current();
  cudak::repeat_rows(stream_, dst, src, rows, cols, times);
}
void CudaBackend::prior_minus_posterior_log_density(float* logw, const float* z, const float* eps,
                                                    const float* stats, int rows, int latent) {
  make_current();
  cudak::prior_minus_posterior_log_density(stream_, logw, z, eps, stats, rows, latent);
}
void CudaBackend::prior_minus_posterior_backward(float* dz, float* dstats, const float* z, int rows, int latent,
                                                 Weight weight) {
  make_current();
  cudak::prior_minus_posterior_backward(stream_, dz, dstats, z, rows, latent, weight);
}
void CudaBackend::log_mean_exp_rows(float* out, const float* in, int rows, int k_count) {
  make_current();
  cudak::log_mean_exp_rows(stream_, out, in, rows, k_count);
}
void CudaBackend::log_mean_exp_rows_backward(float* din, const float* in, const float* out, int rows, int k_count,
                                             Weight weight) {
  make_current();
  cudak::log_mean_exp_rows_backward(stream_, din, in, out, rows, k_count, weight);
}
void CudaBackend::gaussian_log_density_pairs(float* out, const float* z, const float* stats, int n, int m,
                                             int latent, bool per_dimension) {
  make_current();
  cudak::gaussian_log_density_pairs(stream_, out, z, stats, n, m, latent, per_dimension);
}
void CudaBackend::gaussian_log_density_pairs_backward(float* dz, float* dstats, const float* dout, const float* z,
                                                      const float* stats, int n, int m, int latent,
                                                      bool per_dimension) {
  make_current();
  cudak::gaussian_log_density_pairs_backward(stream_, dz, dstats, dout, z, stats, n, m, latent, per_dimension);
}
void CudaBackend::posterior_log_density(float* out, const float* eps, const float* stats, int rows, int latent) {
  make_current();
  cudak::posterior_log_density(stream_, out, eps, stats, rows, latent);
}
void CudaBackend::posterior_log_density_backward(float* dstats, int rows, int latent, Weight weight) {
  make_current();
  cudak::posterior_log_density_backward(stream_, dstats, rows, latent, weight);
}
void CudaBackend::binarize(float* x, int rows, int dim, const NoiseKey& key) {
  make_current();
  cudak::binarize(stream_, x, rows, dim, key);
}

// ---- reductions and optimiser ----

void CudaBackend::sum(float* out, const float* x, size_t n) {
  make_current();
  cudak::sum(stream_, out, x, n, reduce_scratch_);
}
void CudaBackend::sum_squares_blocks(float* out, const float* x, size_t n, size_t block) {
  ELBO_CHECK(block > 0, "sum_squares_blocks: block must be > 0");
  make_current();
  cudak::sum_squares_blocks(stream_, out, x, n, block);
}
void CudaBackend::all_finite(float* out, const float* x, size_t n) {
  make_current();
  cudak::all_finite(stream_, out, x, n, reduce_scratch_);
}
void CudaBackend::kl_group_weights(float* weights, const float* sums, const float* dims, int groups,
                                   const KlGroupRule& rule) {
  make_current();
  cudak::kl_group_weights(stream_, weights, sums, dims, groups, rule);
}
void CudaBackend::update_gate(float* gate, const float* sumsq, const float* health, const UpdateRule& rule) {
  make_current();
  cudak::update_gate(stream_, gate, sumsq, health, rule);
}
void CudaBackend::adam_step(float* params, const float* grads, float* m, float* v, size_t n, const AdamHyper& hyper,
                            const float* gate) {
  make_current();
  cudak::adam_step(stream_, params, grads, m, v, n, hyper, gate);
}
void CudaBackend::add_unless_skipped(float* y, const float* x, size_t n, const float* gate) {
  make_current();
  cudak::add_unless_skipped(stream_, y, x, n, gate);
}
void CudaBackend::ema_update(float* ema, const float* params, size_t n, float decay, const float* gate) {
  make_current();
  cudak::ema_update(stream_, ema, params, n, decay, gate);
}

// ---- convolution (cudnn_conv.h) ----

#if defined(ELBO_WITH_CUDNN)
CudnnConv& CudaBackend::conv() {
  make_current();
  if (!conv_)
    conv_ = std::make_unique<CudnnConv>(
        stream_, precision_ != GemmPrecision::kFP32, name_, [this](size_t floats) { return alloc(floats); },
        [this](float* p) { release(p); });
  return *conv_;
}
void CudaBackend::conv2d_forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s) {
  conv().forward(y, x, w, bias, s);
}
void CudaBackend::conv2d_backward_data(float* dx, const float* dy, const float* w, const ConvShape& s, float beta) {
  conv().backward_data(dx, dy, w, s, beta);
}
void CudaBackend::conv2d_backward_weights(float* dw, float* db, const float* dy, const float* x, const ConvShape& s) {
  conv().backward_weights(dw, db, dy, x, s);
}
std::string CudaBackend::conv2d_implementation(const ConvShape& s) {
  check_conv_shape(s, "conv2d_implementation");
  return conv().implementation();
}
#endif

// ---- factory ----

std::unique_ptr<Backend> make_cuda_backend(int device_index, GemmPrecision precision) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    count = 0;
  }
  ELBO_CHECK(count > 0, "device cuda:" << device_index << " requested, but no CUDA device is visible ("
                                       << (err == cudaSuccess ? "the driver reports none" : cudaGetErrorString(err))
                                       << "; check nvidia-smi, the driver version and CUDA_VISIBLE_DEVICES)");
  ELBO_CHECK(device_index >= 0 && device_index < count,
             "device cuda:" << device_index << " requested, but only " << count
                            << " CUDA device(s) are visible (valid: cuda:0..cuda:" << count - 1 << ")");
  return std::make_unique<CudaBackend>(device_index, precision);
}

}  // namespace elbo
