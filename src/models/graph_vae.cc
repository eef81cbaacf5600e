#include "elbo/models/graph_vae.h"

#include "elbo/error.h"
#include "elbo/nn/layers.h"

namespace elbo {

GraphVae::GraphVae(Shape sample, int latent, bool gaussian, int classes)
    : sample_(sample), latent_(latent), gaussian_(gaussian), classes_(classes) {}

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
  return gaussian_ ? gaussian_nll(g, out, x) : bernoulli_nll(g, out, x);
}

// The mean of p(x|z) as rows x D: sigmoid of the logits, or the mean half of (mean | logvar).
Var GraphVae::mean_of(Graph& g, Var out) const {
  const int d = input_dim();
  if (gaussian_) return columns(g, g.view(out, Shape::rows(g.shape(out).n, 2 * d)), 0, d);
  return g.view(activation(g, out, Activation::kSigmoid), Shape::rows(g.shape(out).n, d));
}

GraphVae::Program& GraphVae::program(Backend& be, Purpose purpose, int rows, int k) {
  auto key = std::make_tuple(purpose, rows, k);
  auto it = programs_.find(key);
  if (it != programs_.end()) return it->second;
  Program p;
  p.graph = std::make_unique<Graph>(be, store_);
  Graph& g = *p.graph;
  switch (purpose) {
    case Purpose::kTrain: {
      p.in = g.input("x", data_shape(rows));
      p.y = condition_input(g, rows);
      Var stats = encode(g, p.in, p.y);
      GaussianSample s = gaussian_sample(g, stats, &noise_);
      p.recon = nll(g, decode(g, s.z, p.y), p.in);
      p.kl = kl_std_normal(g, stats);
      break;
    }
    case Purpose::kImportance: {  // rows images, k samples each; each image is encoded once
      p.in = g.input("x", data_shape(rows));
      p.y = condition_input(g, rows);
      Var stats = repeat_rows(g, encode(g, p.in, p.y), k);
      GaussianSample s = gaussian_sample(g, stats, &noise_);
      Var y_rep = classes_ > 0 ? repeat_rows(g, p.y, k) : Var{};
      p.out = importance_log_weight(g, nll(g, decode(g, s.z, y_rep), repeat_rows(g, p.in, k)), s, stats);
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
    case Purpose::kReconstruct:  // decoded at the posterior mean
      p.in = g.input("x", data_shape(rows));
      p.y = condition_input(g, rows);
      p.out = mean_of(g, decode(g, columns(g, encode(g, p.in, p.y), 0, latent_), p.y));
      break;
  }
  g.plan(/*with_gradients=*/purpose == Purpose::kTrain);
  return programs_.emplace(key, std::move(p)).first->second;
}

void GraphVae::forward(Backend& be, const float* x, int rows, const NoiseKey& noise) {
  train_ = &program(be, Purpose::kTrain, rows);
  noise_ = noise;
  train_->graph->bind(train_->in, x);
  bind_condition(*train_);
  train_->graph->forward();
}

const float* GraphVae::recon_per_row() const {
  ELBO_CHECK(train_, type() << ": recon_per_row() before forward()");
  return train_->graph->value(train_->recon);
}

const float* GraphVae::kl_per_row() const {
  ELBO_CHECK(train_, type() << ": kl_per_row() before forward()");
  return train_->graph->value(train_->kl);
}

void GraphVae::backward(Backend& be, const float* x, int rows, float recon_weight, Weight kl_weight,
                        const std::function<void(size_t)>& on_grads_ready) {
  (void)be;
  ELBO_CHECK(train_ && train_->graph->shape(train_->in).n == rows, type() << ": backward() without its forward()");
  train_->graph->bind(train_->in, x);
  train_->graph->backward({{train_->recon, Weight(recon_weight)}, {train_->kl, kl_weight}}, on_grads_ready);
}

// The forward-only computations: bind the input (and classes), run, copy the output
// (its shape says how much) to the caller's buffer.
void GraphVae::run_into(Backend& be, Program& p, const float* in, float* out) {
  p.graph->bind(p.in, in);
  bind_condition(p);
  p.graph->forward();
  be.copy(out, p.graph->value(p.out), p.graph->shape(p.out).numel());
}

void GraphVae::log_importance_weights(Backend& be, float* logw, const float* x, int images, int k,
                                      const NoiseKey& noise) {
  noise_ = noise;
  run_into(be, program(be, Purpose::kImportance, images, k), x, logw);
}

void GraphVae::decode_mean(Backend& be, float* out, const float* z, int rows) {
  run_into(be, program(be, Purpose::kDecode, rows), z, out);
}

void GraphVae::posterior_mean(Backend& be, float* mu, const float* x, int rows) {
  run_into(be, program(be, Purpose::kEncode, rows), x, mu);
}

void GraphVae::reconstruct(Backend& be, float* out, const float* x, int rows) {
  run_into(be, program(be, Purpose::kReconstruct, rows), x, out);
}

}  // namespace elbo
