// A CPU backend that captures graphs the way the CUDA backend does, so that the code
// around graph capture (StepProgram: agreement, fallback, invalidation) runs in CPU
// tests. Between capture_begin() and capture_end() every op is recorded with its
// arguments (pointers and host values frozen, as in a CUDA graph) and nothing runs;
// replay() runs the recorded ops on the CPU backend. Like the CUDA backend, it refuses
// to allocate, synchronise or copy to the host while capturing and tracks which memory
// a graph may read (graph_generation). Where a GPU would silently read freed memory,
// replaying a graph whose memory was released since its capture throws here. Released
// memory is kept until the backend goes, so a test of a wrong replay never crashes.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/graph_memory.h"

namespace elbo {

class RecordingBackend final : public Backend, public DistributionKernels {
 public:
  explicit RecordingBackend(int threads = 1);
  ~RecordingBackend() override;

  // Failure injection: release, release_host_staging and synchronize throw, like a
  // device with a sticky error that every later call reports.
  bool fail_cleanup = false;
  // capture_begin() answers false.
  bool refuse_capture = false;
  bool capturing() const { return capturing_; }
  int captures() const { return captures_; }
  int replays() const { return replays_; }
  // Convolution calls with a channel-blocked operand (ConvShape::x_block, y_block > 1).
  int blocked_convolutions() const { return blocked_convolutions_; }

  Device device() const override { return inner_->device(); }
  DistributionKernels& distributions() override { return *this; }
  std::string name() const override { return "recording " + inner_->name(); }

  float* alloc(size_t n) override;
  void release(float* p) override;
  void copy_to_device(float* dst, const float* host_src, size_t n) override;
  void copy_to_host(float* host_dst, const float* src, size_t n) override;
  void copy(float* dst, const float* src, size_t n) override;
  void fill(float* x, size_t n, float value) override;
  void fill_weight(float* x, size_t n, Weight w) override;
  void synchronize() override;
  void release_host_staging(float* p) override;

  bool capture_begin() override;
  void capture_end() override;
  void capture_abort() override;
  void replay() override;
  void release_graph() override;
  uint64_t graph_generation() const override { return memory_.generation(); }

  void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, const float* b, float beta,
            float* c) override;
  void layer_gemms(const GemmArgs* gemms, int count) override;
  void bias_act_forward(float* y, const float* bias, int rows, int cols, Activation act) override;
  void act_backward(float* dx, const float* dy, const float* y, size_t n, Activation act) override;
  void bias_grad(float* db, const float* dy, int rows, int cols) override;
  void axpy(float* y, const float* x, size_t n, float alpha) override;
  void scale(float* x, size_t n, float alpha) override;
  void conv2d_forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s) override;
  void conv2d_backward_data(float* dx, const float* dy, const float* w, const ConvShape& s, float beta) override;
  void conv2d_backward_weights(float* dw, float* db, const float* dy, const float* x, const ConvShape& s) override;
  int channel_block() const override { return inner_->channel_block(); }
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
  void reparameterize(float* z, float* eps, const float* stats, int rows, int latent, const NoiseKey& key) override;
  void reparameterize_backward(float* dstats, const float* dz, const float* eps, const float* stats, int rows,
                               int latent) override;
  void kl_forward(float* kl_per_row, const float* stats, int rows, int latent) override;
  void kl_backward(float* dstats, const float* stats, int rows, int latent, Weight weight,
                   const float* dim_scale) override;
  void kl_dim_sums(float* sums, const float* stats, int rows, int latent) override;
  void free_bits_gates(float* gate, const float* sums, int latent, float inv_count, float floor_nats) override;
  void kl_group_weights(float* weights, const float* sums, const float* dims, int groups,
                        const KlGroupRule& rule) override;
  void prior_minus_posterior_backward(float* dz, float* dstats, const float* z, int rows, int latent,
                                      Weight weight) override;
  void log_mean_exp_rows_backward(float* din, const float* in, const float* out, int rows, int k_count,
                                  Weight weight) override;
  void gaussian_log_density_pairs(float* out, const float* z, const float* stats, int n, int m, int latent,
                                  bool per_dimension) override;
  void gaussian_log_density_pairs_backward(float* dz, float* dstats, const float* dout, const float* z,
                                           const float* stats, int n, int m, int latent, bool per_dimension) override;
  void posterior_log_density(float* out, const float* eps, const float* stats, int rows, int latent) override;
  void posterior_log_density_backward(float* dstats, int rows, int latent, Weight weight) override;
  void bernoulli_nll_forward(float* nll_per_row, const float* logits, const float* x, int rows, int dim) override;
  void bernoulli_nll_backward(float* dlogits, const float* logits, const float* x, int rows, int dim,
                              Weight weight) override;
  void gaussian_nll_forward(float* nll_per_row, const float* out, const float* x, int rows, int dim) override;
  void gaussian_nll_backward(float* dout, const float* out, const float* x, int rows, int dim, Weight weight) override;
  void dlogistic_nll_forward(float* nll_per_row, const float* out, const float* x, int rows, int dim) override;
  void dlogistic_nll_backward(float* dout, const float* out, const float* x, int rows, int dim, Weight weight) override;
  // Pairs of diagonal Gaussians (hierarchical models).
  void kl_gaussians_forward(float* kl, const float* q, const float* p, int rows, int latent) override;
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
  void repeat_rows(float* dst, const float* src, int rows, int cols, int times) override;
  void prior_minus_posterior_log_density(float* logw, const float* z, const float* eps, const float* stats, int rows,
                                         int latent) override;
  void log_mean_exp_rows(float* out, const float* in, int rows, int k_count) override;
  void binarize(float* x, int rows, int dim, const NoiseKey& key) override;
  void sum(float* out, const float* x, size_t n) override;
  void sum_squares_blocks(float* out, const float* x, size_t n, size_t block) override;
  void all_finite(float* out, const float* x, size_t n) override;
  void update_gate(float* gate, const float* sumsq, const float* health, const UpdateRule& rule) override;
  void add_unless_skipped(float* y, const float* x, size_t n, const float* gate) override;
  void ema_update(float* ema, const float* params, size_t n, float decay, const float* gate) override;
  void adam_step(float* params, const float* grads, float* m, float* v, size_t n, const AdamHyper& hyper,
                 const float* gate) override;

 private:
  // Runs f now, or records it while capturing.
  void op(std::function<void()> f);
  void refuse_while_capturing(const char* what) const;

  int blocked_convolutions_ = 0;
  std::unique_ptr<Backend> inner_;
  bool capturing_ = false, has_graph_ = false;
  std::vector<std::function<void()>> recording_, graph_;
  uint64_t generation_at_capture_ = 0;
  GraphMemoryWatch memory_;
  std::vector<float*> released_;  // freed when the backend goes
  int captures_ = 0, replays_ = 0;
};

}  // namespace elbo
