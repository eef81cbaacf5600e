#include "elbo/models/graph_vae.h"

#include <algorithm>
#include <vector>

#include "elbo/error.h"
#include "elbo/kernels/philox.h"
#include "elbo/nn/importance_bound.h"
#include "elbo/nn/layers.h"

namespace elbo {

GraphVae::GraphVae(Shape sample, int latent, Likelihood likelihood, int classes, int pseudo_inputs)
    : sample_(sample), latent_(latent), likelihood_(likelihood), classes_(classes), pseudo_inputs_(pseudo_inputs) {
  if (pseudo_inputs_ == 0) return;
  ELBO_CHECK(classes_ == 0, "model.prior: vamp is not available for conditional models (the pseudo-inputs have no class)");
  std::vector<int64_t> shape = {pseudo_inputs_};  // (K, C, H, W) for images, (K, D) for vectors
  if (sample_.h > 1 || sample_.w > 1) shape.insert(shape.end(), {sample_.c, sample_.h, sample_.w});
  else shape.push_back(int64_t(sample_.row_size()));
  // U(-0.5, 0.5): distinct pseudo-inputs, so that their posteriors (the components) differ.
  pseudo_slice_ = store_.add("prior.pseudo_inputs", shape, 1, ParamInit::uniform(0.5f));
}

Var GraphVae::vamp_log_prior(Graph& g, Var z) const {
  Var u = parameter(g, pseudo_slice_, data_shape(pseudo_inputs_));
  Var pairs = gaussian_log_density_pairs(g, z, encode(g, u, Var{}));
  return log_mean_exp(g, g.view(pairs, Shape::rows(g.shape(pairs).numel(), 1)), pseudo_inputs_);
}

Var GraphVae::vamp_kl(Graph& g, const GaussianSample& s, Var stats) const {
  return add(g, posterior_log_density(g, s, stats), scale(g, vamp_log_prior(g, s.z), -1.0f));
}

Var GraphVae::condition_input(Graph& g, int rows) const {
  return classes_ > 0 ? g.input("y", Shape::rows(rows, classes_)) : Var{};
}

void GraphVae::bind_condition(Program& p) const {
  if (classes_ == 0) return;
  ELBO_CHECK(condition_, type() << " is conditional (model.conditional): set_condition() must give the classes first");
  p.graph->bind(p.y, condition_);
}

Shape GraphVae::data_shape(int rows) const {
  Shape s = sample_;
  s.n = rows;
  return s;
}

Var GraphVae::nll(Graph& g, Var out, Var x) const {
  return likelihood_nll(g, out, x, likelihood_);
}

// The mean of p(x|z) as rows x D: sigmoid of the logits, or the mean half of (mean | logvar).
Var GraphVae::mean_of(Graph& g, Var out) const {
  const int d = input_dim();
  return g.view(likelihood_mean(g, out, likelihood_), Shape::rows(g.shape(out).n, d));
}

// Each input encoded once, its statistics repeated for k samples (rows*k rows, image i's
// samples in rows i*k .. i*k+k-1); p.recon gets the samples' -log p(x|z), the result is
// their log p(z) - log q(z|x).
Var GraphVae::record_log_ratio(Graph& g, Program& p, int rows, int k) {
  p.in = g.input("x", data_shape(rows));
  p.y = condition_input(g, rows);
  p.stats = encode(g, p.in, p.y);
  Var stats = k > 1 ? repeat_rows(g, p.stats, k) : p.stats;
  GaussianSample s = gaussian_sample(g, stats, &noise_);
  Var y_rep = classes_ > 0 && k > 1 ? repeat_rows(g, p.y, k) : p.y;
  Var x_rep = k > 1 ? repeat_rows(g, p.in, k) : p.in;
  p.recon = nll(g, decode(g, s.z, y_rep), x_rep);
  return pseudo_inputs_ > 0 ? scale(g, vamp_kl(g, s, stats), -1.0f) : prior_minus_posterior(g, s, stats);
}

GraphVae::Program& GraphVae::program(Backend& be, Purpose purpose, int rows, int k, bool gradients) {
  auto key = std::make_tuple(purpose, rows, k, gradients);
  auto it = programs_.find(key);
  if (it != programs_.end()) return it->second;
  Program p;
  p.graph = std::make_unique<Graph>(be, store_);
  Graph& g = *p.graph;
  switch (purpose) {
    case Purpose::kElbo: {
      p.in = g.input("x", data_shape(rows));
      p.y = condition_input(g, rows);
      p.stats = encode(g, p.in, p.y);
      GaussianSample s = gaussian_sample(g, p.stats, &noise_);
      p.recon = nll(g, decode(g, s.z, p.y), p.in);
      p.kl = pseudo_inputs_ > 0 ? vamp_kl(g, s, p.stats) : kl_std_normal(g, p.stats, &kl_dim_gates_);
      // beta-TCVAE's penalty, a training term only (evaluation reports the plain ELBO).
      if (gradients && objective_.total_correlation())
        p.tc = total_correlation(g, s, p.stats, objective_.tc_block(rows));
      break;
    }
    case Purpose::kIwae: {  // the k-sample bound, trained through its normalised weights
      Var log_ratio = record_log_ratio(g, p, rows, k);
      p.record_importance_bound(log_ratio, k, objective_.warms_up_log_ratio() ? &log_ratio_weight_ : nullptr);
      break;
    }
    case Purpose::kImportance: {  // rows images, k samples each; each image is encoded once
      Var log_ratio = record_log_ratio(g, p, rows, k);
      p.out = log_weight(g, p.recon, log_ratio);
      break;
    }
    case Purpose::kDecode:
      p.in = g.input("z", Shape::rows(rows, latent_));
      p.y = condition_input(g, rows);
      p.out = mean_of(g, decode(g, p.in, p.y));
      break;
    case Purpose::kEncode:
      p.in = g.input("x", data_shape(rows));
      p.y = condition_input(g, rows);
      p.out = columns(g, encode(g, p.in, p.y), 0, latent_);
      break;
    case Purpose::kPriorComponents:  // the VampPrior's components: the pseudo-inputs' (mu | logvar)
      p.out = encode(g, parameter(g, pseudo_slice_, data_shape(pseudo_inputs_)), Var{});
      break;
    case Purpose::kReconstruct:  // decoded at the posterior mean
      p.in = g.input("x", data_shape(rows));
      p.y = condition_input(g, rows);
      p.out = mean_of(g, decode(g, columns(g, encode(g, p.in, p.y), 0, latent_), p.y));
      break;
  }
  g.plan(gradients);
  return programs_.emplace(key, std::move(p)).first->second;
}

// The objective is part of what a program records (the total-correlation term, the
// warm-up's weight, the free bits' gates): programs recorded for another objective are dropped.
void GraphVae::set_objective(const Objective& objective) {
  objective_ = objective;
  programs_.clear();
  train_ = nullptr;
}

void GraphVae::forward(Backend& be, const float* x, int rows, const NoiseKey& noise, Pass pass) {
  const bool train = pass == Pass::kTrain;
  // Only the training pass takes gradients: the evaluation pass records the ELBO's graph
  // planned without them.
  train_ = train ? &training_program(be, rows) : &program(be, Purpose::kElbo, rows, 1, /*gradients=*/false);
  train_pass_ = train;
  noise_ = noise;
  train_->graph->bind(train_->in, x);
  bind_condition(*train_);
  train_->graph->forward();
}

GraphVae::Program& GraphVae::training_program(Backend& be, int rows) {
  return objective_.iwae() ? program(be, Purpose::kIwae, rows, objective_.samples, /*gradients=*/true)
                           : program(be, Purpose::kElbo, rows, 1, /*gradients=*/true);
}

size_t GraphVae::training_activation_bytes(Backend& be, int rows) {
  return training_program(be, rows).graph->arena_floats() * sizeof(float);
}

const float* GraphVae::recon_per_row() const {
  ELBO_CHECK(train_, type() << ": recon_per_row() before forward()");
  return train_->graph->value(train_->recon);
}

const float* GraphVae::kl_per_row() const {
  ELBO_CHECK(train_, type() << ": kl_per_row() before forward()");
  return train_->graph->value(train_->kl);
}

const float* GraphVae::tc_per_row() const {
  ELBO_CHECK(train_, type() << ": tc_per_row() before forward()");
  return train_pass_ ? train_->values(train_->tc) : nullptr;
}

const float* GraphVae::log_mean_weight_per_row() const {
  ELBO_CHECK(train_, type() << ": log_mean_weight_per_row() before forward()");
  return train_->values(train_->log_mean_weight);
}

const float* GraphVae::trained_log_mean_weight_per_row() const {
  ELBO_CHECK(train_, type() << ": trained_log_mean_weight_per_row() before forward()");
  return train_->values(train_->trained_bound);
}

const float* GraphVae::posterior_stats() const {
  ELBO_CHECK(train_, type() << ": posterior_stats() before forward()");
  return train_->graph->value(train_->stats);
}

void GraphVae::backward(Backend& be, const float* x, int rows, float recon_weight, Weight kl_weight,
                        const std::function<void(size_t)>& on_grads_ready) {
  (void)be;
  ELBO_CHECK(train_ && train_pass_ && train_->graph->shape(train_->in).n == rows,
             type() << ": backward() without its forward() of the training pass");
  train_->graph->bind(train_->in, x);
  if (train_->backward_through_bound(recon_weight, on_grads_ready)) return;  // iwae
  if (train_->tc.valid())  // beta-TCVAE: the total correlation weighs tc_beta - 1 more than the KL
    train_->graph->backward({{train_->recon, Weight(recon_weight)},
                             {train_->kl, kl_weight},
                             {train_->tc, Weight(kl_weight.value * (objective_.tc_beta - 1.0f), kl_weight.device_factor)}},
                            on_grads_ready);
  else
    train_->graph->backward({{train_->recon, Weight(recon_weight)}, {train_->kl, kl_weight}}, on_grads_ready);
}

// The forward-only computations: bind the input (and classes), run, copy the output
// (its shape says how much) to the caller's buffer.
void GraphVae::run_into(Backend& be, Program& p, const float* in, float* out) {
  bind_condition(p);
  p.run_into(be, in, out);
}

void GraphVae::log_importance_weights(Backend& be, float* logw, const float* x, int images, int k,
                                      const NoiseKey& noise) {
  noise_ = noise;
  run_into(be, program(be, Purpose::kImportance, images, k), x, logw);
}

void GraphVae::decode_mean(Backend& be, float* out, const float* z, int rows) {
  run_into(be, program(be, Purpose::kDecode, rows), z, out);
}

void GraphVae::sample_prior(Backend& be, float* z, int rows, uint64_t seed) {
  if (pseudo_inputs_ == 0) return VaeModel::sample_prior(be, z, rows, seed);
  Program& p = program(be, Purpose::kPriorComponents, pseudo_inputs_);
  p.graph->forward();
  std::vector<float> stats(size_t(pseudo_inputs_) * 2 * size_t(latent_));
  be.copy_to_host(stats.data(), p.graph->value(p.out), stats.size());
  // Row r: component k from the draw after its latent's, then z = mu_k + T sigma_k * eps.
  const float t = sample_temperature(0);
  for (int r = 0; r < rows; ++r) {
    const int k = std::min(pseudo_inputs_ - 1, int(philox_uniform(seed, kRngSample, uint64_t(r), uint32_t(latent_)) *
                                                   float(pseudo_inputs_)));
    const float* mu = stats.data() + size_t(k) * 2 * latent_;
    for (int j = 0; j < latent_; ++j)
      z[size_t(r) * latent_ + j] =
          reparameterize(mu[j], mu[latent_ + j], t * philox_normal(seed, kRngSample, uint64_t(r), uint32_t(j)));
  }
}

void GraphVae::posterior_mean(Backend& be, float* mu, const float* x, int rows) {
  run_into(be, program(be, Purpose::kEncode, rows), x, mu);
}

void GraphVae::reconstruct(Backend& be, float* out, const float* x, int rows) {
  run_into(be, program(be, Purpose::kReconstruct, rows), x, out);
}

}  // namespace elbo
