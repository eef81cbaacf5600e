#include "support/recording_backend.h"

#include "elbo/error.h"

namespace elbo {

RecordingBackend::RecordingBackend(int threads) : inner_(make_cpu_backend(threads)) {}

RecordingBackend::~RecordingBackend() {
  for (float* p : released_) inner_->release(p);
}

void RecordingBackend::op(std::function<void()> f) {
  if (capturing_) recording_.push_back(std::move(f));
  else f();
}

void RecordingBackend::refuse_while_capturing(const char* what) const {
  ELBO_CHECK(!capturing_, name() << ": " << what << " is not allowed while a graph is being captured");
}

float* RecordingBackend::alloc(size_t n) {
  refuse_while_capturing("alloc()");
  float* p = inner_->alloc(n);
  memory_.allocated(p);
  return p;
}

void RecordingBackend::release(float* p) {
  if (!p) return;
  // Kept for the destructor to free even when the injected failure throws below (a
  // real device's memory goes with the process; this one would leak under ASan).
  released_.push_back(p);
  ELBO_CHECK(!fail_cleanup, name() << ": releasing device memory: injected device error");
  memory_.released(p);
}

void RecordingBackend::release_host_staging(float* p) {
  ELBO_CHECK(!fail_cleanup, name() << ": releasing host staging memory: injected device error");
  inner_->release_host_staging(p);
}

void RecordingBackend::synchronize() {
  refuse_while_capturing("synchronize()");
  ELBO_CHECK(!fail_cleanup, name() << ": synchronize: injected device error");
  inner_->synchronize();
}

void RecordingBackend::copy_to_host(float* host_dst, const float* src, size_t n) {
  refuse_while_capturing("copy_to_host()");
  inner_->copy_to_host(host_dst, src, n);
}

bool RecordingBackend::capture_begin() {
  if (capturing_ || refuse_capture) return false;
  capturing_ = true;
  recording_.clear();
  memory_.capture_began();
  generation_at_capture_ = memory_.generation();
  return true;
}

void RecordingBackend::capture_end() {
  ELBO_CHECK(capturing_, name() << ": capture_end() without capture_begin()");
  capturing_ = false;
  graph_ = std::move(recording_);
  recording_.clear();
  has_graph_ = true;
  ++captures_;
}

void RecordingBackend::capture_abort() {
  capturing_ = false;
  recording_.clear();
}

void RecordingBackend::replay() {
  ELBO_CHECK(has_graph_, name() << ": replay() without a captured graph");
  // On a GPU this replay would read and write freed memory without a word.
  ELBO_CHECK(memory_.generation() == generation_at_capture_,
             name() << ": replay of a graph whose memory was released after its capture");
  for (const auto& f : graph_) f();
  ++replays_;
}

void RecordingBackend::release_graph() {
  graph_.clear();
  has_graph_ = false;
}

// ---- every op: run now, or recorded with its arguments ----

void RecordingBackend::copy_to_device(float* dst, const float* host_src, size_t n) {
  op([=] { inner_->copy_to_device(dst, host_src, n); });
}
void RecordingBackend::copy(float* dst, const float* src, size_t n) { op([=] { inner_->copy(dst, src, n); }); }
void RecordingBackend::fill(float* x, size_t n, float value) { op([=] { inner_->fill(x, n, value); }); }
void RecordingBackend::fill_weight(float* x, size_t n, Weight w) { op([=] { inner_->fill_weight(x, n, w); }); }
void RecordingBackend::gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                            const float* b, float beta, float* c) {
  op([=] { inner_->gemm(trans_a, trans_b, m, n, k, alpha, a, b, beta, c); });
}
void RecordingBackend::layer_gemms(const GemmArgs* gemms, int count) {
  const std::vector<GemmArgs> copy(gemms, gemms + count);  // recorded by value
  op([=] { inner_->layer_gemms(copy.data(), int(copy.size())); });
}
void RecordingBackend::bias_act_forward(float* y, const float* bias, int rows, int cols, Activation act) {
  op([=] { inner_->bias_act_forward(y, bias, rows, cols, act); });
}
void RecordingBackend::act_backward(float* dx, const float* dy, const float* y, size_t n, Activation act) {
  op([=] { inner_->act_backward(dx, dy, y, n, act); });
}
void RecordingBackend::bias_grad(float* db, const float* dy, int rows, int cols) {
  op([=] { inner_->bias_grad(db, dy, rows, cols); });
}
void RecordingBackend::axpy(float* y, const float* x, size_t n, float alpha) {
  op([=] { inner_->axpy(y, x, n, alpha); });
}
void RecordingBackend::scale(float* x, size_t n, float alpha) { op([=] { inner_->scale(x, n, alpha); }); }
void RecordingBackend::conv2d_forward(float* y, const float* x, const float* w, const float* bias,
                                      const ConvShape& s) {
  if (s.x_block > 1 || s.y_block > 1) ++blocked_convolutions_;
  op([=] { inner_->conv2d_forward(y, x, w, bias, s); });
}
void RecordingBackend::act_backward_from_input(float* dx, const float* dy, const float* x, size_t n, Activation act) {
  op([=] { inner_->act_backward_from_input(dx, dy, x, n, act); });
}
void RecordingBackend::copy_columns(float* dst, size_t dst_stride, const float* src, size_t src_stride, int rows,
                                    size_t cols, bool accumulate) {
  op([=] { inner_->copy_columns(dst, dst_stride, src, src_stride, rows, cols, accumulate); });
}
void RecordingBackend::upsample2x(float* big, const float* small, int planes, int h, int w, int lanes, float alpha,
                                  bool accumulate) {
  op([=] { inner_->upsample2x(big, small, planes, h, w, lanes, alpha, accumulate); });
}
void RecordingBackend::sum_pool2x(float* small, const float* big, int planes, int h, int w, int lanes, float alpha,
                                  bool accumulate) {
  op([=] { inner_->sum_pool2x(small, big, planes, h, w, lanes, alpha, accumulate); });
}
void RecordingBackend::group_norm_forward(float* y, float* stats, const float* x, const float* gamma,
                                          const float* beta, int n, int c, int hw, int groups, float eps) {
  op([=] { inner_->group_norm_forward(y, stats, x, gamma, beta, n, c, hw, groups, eps); });
}
void RecordingBackend::group_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                                           const float* stats, const float* gamma, int n, int c, int hw, int groups,
                                           bool accumulate) {
  op([=] { inner_->group_norm_backward(dx, dgamma, dbeta, dy, x, stats, gamma, n, c, hw, groups, accumulate); });
}
void RecordingBackend::weight_norm_forward(float* w, float* norms, const float* v, const float* g, int rows,
                                           int cols) {
  op([=] { inner_->weight_norm_forward(w, norms, v, g, rows, cols); });
}
void RecordingBackend::weight_norm_backward(float* dv, float* dg, const float* dw, const float* v, const float* g,
                                            const float* norms, int rows, int cols) {
  op([=] { inner_->weight_norm_backward(dv, dg, dw, v, g, norms, rows, cols); });
}
void RecordingBackend::embedding_forward(float* y, const float* table, const float* index, int rows, int classes,
                                         int dim) {
  op([=] { inner_->embedding_forward(y, table, index, rows, classes, dim); });
}
void RecordingBackend::embedding_backward(float* dtable, const float* dy, const float* index, int rows, int classes,
                                          int dim) {
  op([=] { inner_->embedding_backward(dtable, dy, index, rows, classes, dim); });
}
void RecordingBackend::conv2d_backward_data(float* dx, const float* dy, const float* w, const ConvShape& s,
                                            float beta) {
  if (s.x_block > 1 || s.y_block > 1) ++blocked_convolutions_;
  op([=] { inner_->conv2d_backward_data(dx, dy, w, s, beta); });
}
void RecordingBackend::conv2d_backward_weights(float* dw, float* db, const float* dy, const float* x,
                                               const ConvShape& s) {
  if (s.x_block > 1 || s.y_block > 1) ++blocked_convolutions_;
  op([=] { inner_->conv2d_backward_weights(dw, db, dy, x, s); });
}
void RecordingBackend::reparameterize(float* z, float* eps, const float* stats, int rows, int latent,
                                      const NoiseKey& key) {
  op([=] { inner_->distributions().reparameterize(z, eps, stats, rows, latent, key); });
}
void RecordingBackend::reparameterize_backward(float* dstats, const float* dz, const float* eps, const float* stats,
                                               int rows, int latent) {
  op([=] { inner_->distributions().reparameterize_backward(dstats, dz, eps, stats, rows, latent); });
}
void RecordingBackend::kl_forward(float* kl_per_row, const float* stats, int rows, int latent) {
  op([=] { inner_->distributions().kl_forward(kl_per_row, stats, rows, latent); });
}
void RecordingBackend::kl_backward(float* dstats, const float* stats, int rows, int latent, Weight weight,
                                   const float* dim_scale) {
  op([=] { inner_->distributions().kl_backward(dstats, stats, rows, latent, weight, dim_scale); });
}
void RecordingBackend::kl_dim_sums(float* sums, const float* stats, int rows, int latent) {
  op([=] { inner_->distributions().kl_dim_sums(sums, stats, rows, latent); });
}
void RecordingBackend::free_bits_gates(float* gate, const float* sums, int latent, float inv_count, float floor_nats) {
  op([=] { inner_->distributions().free_bits_gates(gate, sums, latent, inv_count, floor_nats); });
}
void RecordingBackend::prior_minus_posterior_backward(float* dz, float* dstats, const float* z, int rows, int latent,
                                                      Weight weight) {
  op([=] { inner_->distributions().prior_minus_posterior_backward(dz, dstats, z, rows, latent, weight); });
}
void RecordingBackend::log_mean_exp_rows_backward(float* din, const float* in, const float* out, int rows, int k_count,
                                                  Weight weight) {
  op([=] { inner_->distributions().log_mean_exp_rows_backward(din, in, out, rows, k_count, weight); });
}
void RecordingBackend::gaussian_log_density_pairs(float* out, const float* z, const float* stats, int n, int m,
                                                  int latent, bool per_dimension) {
  op([=] { inner_->distributions().gaussian_log_density_pairs(out, z, stats, n, m, latent, per_dimension); });
}
void RecordingBackend::gaussian_log_density_pairs_backward(float* dz, float* dstats, const float* dout, const float* z,
                                                           const float* stats, int n, int m, int latent,
                                                           bool per_dimension) {
  op([=] {
    inner_->distributions().gaussian_log_density_pairs_backward(dz, dstats, dout, z, stats, n, m, latent,
                                                                per_dimension);
  });
}
void RecordingBackend::posterior_log_density(float* out, const float* eps, const float* stats, int rows, int latent) {
  op([=] { inner_->distributions().posterior_log_density(out, eps, stats, rows, latent); });
}
void RecordingBackend::posterior_log_density_backward(float* dstats, int rows, int latent, Weight weight) {
  op([=] { inner_->distributions().posterior_log_density_backward(dstats, rows, latent, weight); });
}
void RecordingBackend::bernoulli_nll_forward(float* nll_per_row, const float* logits, const float* x, int rows,
                                             int dim) {
  op([=] { inner_->distributions().bernoulli_nll_forward(nll_per_row, logits, x, rows, dim); });
}
void RecordingBackend::bernoulli_nll_backward(float* dlogits, const float* logits, const float* x, int rows, int dim,
                                              Weight weight) {
  op([=] { inner_->distributions().bernoulli_nll_backward(dlogits, logits, x, rows, dim, weight); });
}
void RecordingBackend::gaussian_nll_forward(float* nll_per_row, const float* out, const float* x, int rows, int dim) {
  op([=] { inner_->distributions().gaussian_nll_forward(nll_per_row, out, x, rows, dim); });
}
void RecordingBackend::gaussian_nll_backward(float* dout, const float* out, const float* x, int rows, int dim,
                                             Weight weight) {
  op([=] { inner_->distributions().gaussian_nll_backward(dout, out, x, rows, dim, weight); });
}
void RecordingBackend::dlogistic_nll_forward(float* nll_per_row, const float* out, const float* x, int rows, int dim) {
  op([=] { inner_->distributions().dlogistic_nll_forward(nll_per_row, out, x, rows, dim); });
}
void RecordingBackend::dlogistic_nll_backward(float* dout, const float* out, const float* x, int rows, int dim,
                                              Weight weight) {
  op([=] { inner_->distributions().dlogistic_nll_backward(dout, out, x, rows, dim, weight); });
}
void RecordingBackend::kl_gaussians_forward(float* kl, const float* q, const float* p, int rows, int latent) {
  op([=] { inner_->distributions().kl_gaussians_forward(kl, q, p, rows, latent); });
}
void RecordingBackend::kl_gaussians_backward(float* dq, float* dp, const float* q, const float* p, int rows,
                                             int latent, Weight weight) {
  op([=] { inner_->distributions().kl_gaussians_backward(dq, dp, q, p, rows, latent, weight); });
}
void RecordingBackend::gaussian_merge_forward(float* out, const float* a, const float* b, int rows, int latent) {
  op([=] { inner_->distributions().gaussian_merge_forward(out, a, b, rows, latent); });
}
void RecordingBackend::gaussian_merge_backward(float* da, float* db, const float* dout, const float* a,
                                               const float* b, int rows, int latent) {
  op([=] { inner_->distributions().gaussian_merge_backward(da, db, dout, a, b, rows, latent); });
}
void RecordingBackend::gaussian_log_ratio_forward(float* logw, const float* z, const float* eps, const float* q,
                                                  const float* p, int rows, int latent) {
  op([=] { inner_->distributions().gaussian_log_ratio_forward(logw, z, eps, q, p, rows, latent); });
}
void RecordingBackend::gaussian_log_ratio_backward(float* dz, float* dq, float* dp, const float* z, const float* p,
                                                   int rows, int latent, Weight weight) {
  op([=] { inner_->distributions().gaussian_log_ratio_backward(dz, dq, dp, z, p, rows, latent, weight); });
}
void RecordingBackend::bound_logvar_forward(float* out, const float* stats, int rows, int latent, float clamp,
                                            float floor) {
  op([=] { inner_->distributions().bound_logvar_forward(out, stats, rows, latent, clamp, floor); });
}
void RecordingBackend::bound_logvar_backward(float* dstats, const float* dout, const float* stats, int rows,
                                             int latent, float clamp, float floor) {
  op([=] { inner_->distributions().bound_logvar_backward(dstats, dout, stats, rows, latent, clamp, floor); });
}
void RecordingBackend::repeat_rows(float* dst, const float* src, int rows, int cols, int times) {
  op([=] { inner_->repeat_rows(dst, src, rows, cols, times); });
}
void RecordingBackend::prior_minus_posterior_log_density(float* logw, const float* z, const float* eps,
                                                         const float* stats, int rows, int latent) {
  op([=] { inner_->distributions().prior_minus_posterior_log_density(logw, z, eps, stats, rows, latent); });
}
void RecordingBackend::log_mean_exp_rows(float* out, const float* in, int rows, int k_count) {
  op([=] { inner_->distributions().log_mean_exp_rows(out, in, rows, k_count); });
}
void RecordingBackend::binarize(float* x, int rows, int dim, const NoiseKey& key) {
  op([=] { inner_->binarize(x, rows, dim, key); });
}
void RecordingBackend::sum(float* out, const float* x, size_t n) { op([=] { inner_->sum(out, x, n); }); }
void RecordingBackend::sum_squares_blocks(float* out, const float* x, size_t n, size_t block) {
  op([=] { inner_->sum_squares_blocks(out, x, n, block); });
}
void RecordingBackend::all_finite(float* out, const float* x, size_t n) { op([=] { inner_->all_finite(out, x, n); }); }
void RecordingBackend::kl_group_weights(float* weights, const float* sums, const float* dims, int groups,
                                        const KlGroupRule& rule) {
  op([=] { inner_->distributions().kl_group_weights(weights, sums, dims, groups, rule); });
}
void RecordingBackend::update_gate(float* gate, const float* sumsq, const float* health, const UpdateRule& rule) {
  op([=] { inner_->update_gate(gate, sumsq, health, rule); });
}
void RecordingBackend::add_unless_skipped(float* y, const float* x, size_t n, const float* gate) {
  op([=] { inner_->add_unless_skipped(y, x, n, gate); });
}
void RecordingBackend::ema_update(float* ema, const float* params, size_t n, float decay, const float* gate) {
  op([=] { inner_->ema_update(ema, params, n, decay, gate); });
}
void RecordingBackend::adam_step(float* params, const float* grads, float* m, float* v, size_t n,
                                 const AdamHyper& hyper, const float* gate) {
  op([=] { inner_->adam_step(params, grads, m, v, n, hyper, gate); });
}

}  // namespace elbo
