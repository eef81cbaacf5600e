// The CUDA backend: every op of backend.h on one device and one non-blocking
// stream. Work is enqueued on stream() and the host returns at once; only
// copy_to_host and synchronize wait. Exposed (beyond Backend) for the NCCL
// communicator, which orders its own stream against stream() with events.
//
// Not thread-safe: one host thread drives a backend (the trainer's). Each call
// makes the backend's device current first, so a process may hold backends on
// several devices.
//
// Graph capture (capture_begin/end, replay) records the stream's work in global
// capture mode. Kernel arguments are frozen at capture: ops whose host arguments
// change from step to step (NoiseKey, AdamHyper's lr and bias-corrected step sizes, gemm's
// alpha/beta) replay with the captured values. Allocating, copying to the host or
// synchronising while capturing throws; a release during capture (only while an error
// unwinds out of the step being captured) is done when the capture ends.
//
// Releases never throw (they run in destructors): a failure is reported on stderr once.
// Host waits (markers, synchronize, copies to the host) poll the device and call the
// wait monitor between polls, so that the NCCL communicator can check its asynchronous
// errors while the host waits for work that follows a collective.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/graph_memory.h"

namespace elbo {

class CudnnConv;

class CudaBackend final : public Backend, public DistributionKernels {
 public:
  CudaBackend(int device_index, GemmPrecision precision);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  DistributionKernels& distributions() override { return *this; }
  cudaStream_t stream() const { return stream_; }
  int device_index() const { return device_; }
  GemmPrecision precision() const { return precision_; }
  // Makes this backend's device current on the calling thread.
  void make_current() const;

  // Called between polls while the host waits for the device, with what it waits for
  // and the seconds waited so far; it throws to end the wait. Empty: none.
  using WaitMonitor = std::function<void(const char* what, double waited_s)>;
  void set_wait_monitor(WaitMonitor monitor) { wait_monitor_ = std::move(monitor); }

  Device device() const override { return Device{DeviceType::kCUDA, device_}; }
  std::string name() const override { return name_; }

  float* alloc(size_t n) override;
  void release(float* p) noexcept override;
  void copy_to_device(float* dst, const float* host_src, size_t n) override;
  void copy_to_host(float* host_dst, const float* src, size_t n) override;
  void copy(float* dst, const float* src, size_t n) override;
  void fill(float* x, size_t n, float value) override;
  void fill_weight(float* x, size_t n, Weight w) override;
  void synchronize() override;
  float* alloc_host_staging(size_t n) override;
  void release_host_staging(float* p) noexcept override;

  uint64_t enqueue_marker() override;
  void wait_marker(uint64_t marker) override;

  bool capture_begin() override;
  void capture_end() override;
  void capture_abort() override;
  void release_graph() override;
  void replay() override;
  uint64_t graph_generation() const override { return graph_memory_.generation(); }

  // FP32 always (reductions); layer_gemms in the backend's precision.
  void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, const float* b, float beta,
            float* c) override;
  void layer_gemms(const GemmArgs* gemms, int count) override;
  void bias_act_forward(float* y, const float* bias, int rows, int cols, Activation act) override;
  void act_backward(float* dx, const float* dy, const float* y, size_t n, Activation act) override;
  void bias_grad(float* db, const float* dy, int rows, int cols) override;
  void axpy(float* y, const float* x, size_t n, float alpha) override;
  void scale(float* x, size_t n, float alpha) override;

  void reparameterize(float* z, float* eps, const float* stats, int rows, int latent, const NoiseKey& key) override;
  void reparameterize_backward(float* dstats, const float* dz, const float* eps, const float* stats, int rows,
                               int latent) override;
  void kl_forward(float* kl_per_row, const float* stats, int rows, int latent) override;
  void kl_backward(float* dstats, const float* stats, int rows, int latent, Weight weight,
                   const float* dim_scale) override;
  void kl_dim_sums(float* sums, const float* stats, int rows, int latent) override;
  void free_bits_gates(float* gate, const float* sums, int latent, float inv_count, float floor_nats) override;

  void bernoulli_nll_forward(float* nll_per_row, const float* logits, const float* x, int rows, int dim) override;
  void bernoulli_nll_backward(float* dlogits, const float* logits, const float* x, int rows, int dim,
                              Weight weight) override;
  void gaussian_nll_forward(float* nll_per_row, const float* out, const float* x, int rows, int dim) override;
  void gaussian_nll_backward(float* dout, const float* out, const float* x, int rows, int dim, Weight weight) override;
  void dlogistic_nll_forward(float* nll_per_row, const float* out, const float* x, int rows, int dim) override;
  void dlogistic_nll_backward(float* dout, const float* out, const float* x, int rows, int dim, Weight weight) override;
  void repeat_rows(float* dst, const float* src, int rows, int cols, int times) override;

  void prior_minus_posterior_log_density(float* logw, const float* z, const float* eps, const float* stats, int rows,
                                         int latent) override;
  void prior_minus_posterior_backward(float* dz, float* dstats, const float* z, int rows, int latent,
                                      Weight weight) override;
  void log_mean_exp_rows(float* out, const float* in, int rows, int k_count) override;
  void log_mean_exp_rows_backward(float* din, const float* in, const float* out, int rows, int k_count,
                                  Weight weight) override;
  void gaussian_log_density_pairs(float* out, const float* z, const float* stats, int n, int m, int latent,
                                  bool per_dimension) override;
  void gaussian_log_density_pairs_backward(float* dz, float* dstats, const float* dout, const float* z,
                                           const float* stats, int n, int m, int latent, bool per_dimension) override;
  void posterior_log_density(float* out, const float* eps, const float* stats, int rows, int latent) override;
  void posterior_log_density_backward(float* dstats, int rows, int latent, Weight weight) override;

  void binarize(float* x, int rows, int dim, const NoiseKey& key) override;

  void sum(float* out, const float* x, size_t n) override;
  void sum_squares_blocks(float* out, const float* x, size_t n, size_t block) override;
  void all_finite(float* out, const float* x, size_t n) override;

  void update_gate(float* gate, const float* sumsq, const float* health, const UpdateRule& rule) override;
  void kl_group_weights(float* weights, const float* sums, const float* dims, int groups,
                        const KlGroupRule& rule) override;
  void add_unless_skipped(float* y, const float* x, size_t n, const float* gate) override;
  void ema_update(float* ema, const float* params, size_t n, float decay, const float* gate) override;
  void adam_step(float* params, const float* grads, float* m, float* v, size_t n, const AdamHyper& hyper,
                 const float* gate) override;

  // Layers of hierarchical models (cuda_layers.cu; defined in cuda_backend_layers.cc).
  void act_backward_from_input(float* dx, const float* dy, const float* x, size_t n, Activation act) override;
  void copy_columns(float* dst, size_t dst_stride, const float* src, size_t src_stride, int rows, size_t cols,
                    bool accumulate) override;
  void upsample2x(float* big, const float* small, int planes, int h, int w, int lanes, float alpha,
                  bool accumulate) override;
  void sum_pool2x(float* small, const float* big, int planes, int h, int w, int lanes, float alpha,
                  bool accumulate) override;
  void group_norm_forward(float* y, float* stats, const float* x, const float* gamma, const float* beta, int n, int c,
                          int hw, int groups, float eps) override;
  void group_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* stats,
                           const float* gamma, int n, int c, int hw, int groups, bool accumulate) override;
  void weight_norm_forward(float* w, float* norms, const float* v, const float* g, int rows, int cols) override;
  void weight_norm_backward(float* dv, float* dg, const float* dw, const float* v, const float* g, const float* norms,
                            int rows, int cols) override;
  void embedding_forward(float* y, const float* table, const float* index, int rows, int classes, int dim) override;
  void embedding_backward(float* dtable, const float* dy, const float* index, int rows, int classes, int dim) override;

  // Pairs of diagonal Gaussians (cuda_gaussian_pairs.cu; defined in cuda_backend_gaussian_pairs.cc).
  void kl_gaussians_forward(float* kl_per_row, const float* q, const float* p, int rows, int latent) override;
  void kl_gaussians_backward(float* dq, float* dp, const float* q, const float* p, int rows, int latent,
                             Weight weight) override;
  void gaussian_merge_forward(float* out, const float* a, const float* b, int rows, int latent) override;
  void gaussian_merge_backward(float* da, float* db, const float* dout, const float* a, const float* b, int rows,
                               int latent) override;
  void gaussian_log_ratio_forward(float* logw, const float* z, const float* eps, const float* q, const float* p,
                                  int rows, int latent) override;
  void gaussian_log_ratio_backward(float* dz, float* dq, float* dp, const float* z, const float* p, int rows,
                                   int latent, Weight weight) override;
  void bound_logvar_forward(float* out, const float* stats, int rows, int latent, float clamp, float floor) override;
  void bound_logvar_backward(float* dstats, const float* dout, const float* stats, int rows, int latent, float clamp,
                             float floor) override;

#if defined(ELBO_WITH_CUDNN)
  // cuDNN, deterministic algorithms (cudnn_conv.h); without cuDNN, Backend's defaults throw.
  void conv2d_forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s) override;
  void conv2d_backward_data(float* dx, const float* dy, const float* w, const ConvShape& s, float beta) override;
  void conv2d_backward_weights(float* dw, float* db, const float* dy, const float* x, const ConvShape& s) override;
  std::string conv2d_implementation(const ConvShape& s) override;
#endif

 private:
  void gemm_in(GemmPrecision precision, const GemmArgs& args);
  void require_not_capturing(const char* what) const;
  void free_resources() noexcept;
  cudaError_t select_device() const noexcept;  // make_current() without throwing
  void free_device_memory(float* p) noexcept;
  void free_released_in_capture() noexcept;
  void report_cleanup(const char* what, cudaError_t err) const noexcept;
  // Host wait until `event` has completed, polling (see the file comment).
  void wait_event(const char* what, cudaEvent_t event);
  // Host wait until the stream's work so far has completed.
  void wait_stream(const char* what);

  int device_ = 0;
  GemmPrecision precision_ = GemmPrecision::kFP32;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_workspace_ = nullptr;
  double* reduce_scratch_ = nullptr;  // cudak::kReduceBlocks partial sums
  bool stream_ordered_alloc_ = false;  // cudaMallocAsync / cudaFreeAsync available
  bool capturing_ = false;
  cudaGraphExec_t graph_exec_ = nullptr;
  // Ring of events behind enqueue_marker/wait_marker; marker m uses markers_[m % size].
  static constexpr size_t kMarkerRing = 16;
  cudaEvent_t markers_[kMarkerRing] = {};
  uint64_t next_marker_ = 1;
  cudaEvent_t sync_event_ = nullptr;  // recorded by wait_stream
  WaitMonitor wait_monitor_;
  GraphMemoryWatch graph_memory_;
  std::vector<float*> released_in_capture_;
#if defined(ELBO_WITH_CUDNN)
  CudnnConv& conv();  // created at the first convolution
  std::unique_ptr<CudnnConv> conv_;
#endif
};

}  // namespace elbo
