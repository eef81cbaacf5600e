#include "elbo/nn/distributions.h"

#include "elbo/error.h"

namespace elbo {
namespace {

int latent_of(Graph& g, Var stats) {
  const size_t d = g.shape(stats).row_size();
  ELBO_CHECK(d % 2 == 0, "Gaussian statistics: rows must hold (mu | logvar), got " << d << " values");
  return int(d / 2);
}

class GaussianSampleNode final : public Node {
 public:
  GaussianSampleNode(Var stats, Var z, Var eps, const NoiseKey* noise) : noise_(noise) {
    inputs = {stats};
    outputs = {z, eps};
  }
  const char* kind() const override { return "gaussian_sample"; }
  void forward(Backend& be, Graph& g) override {
    const Shape s = g.shape(outputs[0]);
    be.reparameterize(g.value(outputs[0]), g.value(outputs[1]), g.value(inputs[0]), s.n, int(s.row_size()), *noise_);
  }
  void backward(Backend& be, Graph& g) override {
    const Shape s = g.shape(outputs[0]);
    float* dstats = g.grad(inputs[0]);
    if (!input_grad_accumulates[0]) be.fill(dstats, 2 * s.numel(), 0.0f);
    be.reparameterize_backward(dstats, g.grad(outputs[0]), g.value(outputs[1]), g.value(inputs[0]), s.n,
                               int(s.row_size()));
  }

 private:
  const NoiseKey* noise_;
};

class KlStdNormalNode final : public Node {
 public:
  KlStdNormalNode(Var stats, Var kl) {
    inputs = {stats};
    outputs = {kl};
  }
  const char* kind() const override { return "kl_std_normal"; }
  void forward(Backend& be, Graph& g) override {
    be.kl_forward(g.value(outputs[0]), g.value(inputs[0]), g.shape(outputs[0]).n, latent_of(g, inputs[0]));
  }
  void backward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    float* dstats = g.grad(inputs[0]);
    if (!input_grad_accumulates[0]) be.fill(dstats, s.numel(), 0.0f);
    if (const Weight* w = g.seed_of(outputs[0])) be.kl_backward(dstats, g.value(inputs[0]), s.n, latent_of(g, inputs[0]), *w);
  }
};

// Bernoulli and Gaussian likelihoods share the wiring; their backend ops assign the
// gradient, so when another reader already wrote the input's gradient, this node writes
// into a scratch tensor and adds it.
class LikelihoodNode final : public Node {
 public:
  LikelihoodNode(Var out, Var x, Var nll, bool gaussian) : gaussian_(gaussian) {
    inputs = {out, x};
    outputs = {nll};
  }
  const char* kind() const override { return gaussian_ ? "gaussian_nll" : "bernoulli_nll"; }
  void reserve(Graph& g) override {
    if (input_needs_grad[0] && input_grad_accumulates[0]) scratch_ = g.constant(g.shape(inputs[0]));
  }
  void forward(Backend& be, Graph& g) override {
    const Shape x = g.shape(inputs[1]);
    if (gaussian_)
      be.gaussian_nll_forward(g.value(outputs[0]), g.value(inputs[0]), g.value(inputs[1]), x.n, int(x.row_size()));
    else
      be.bernoulli_nll_forward(g.value(outputs[0]), g.value(inputs[0]), g.value(inputs[1]), x.n, int(x.row_size()));
  }
  void backward(Backend& be, Graph& g) override {
    ELBO_CHECK(!input_needs_grad[1], kind() << ": no gradient with respect to the data");
    if (!input_needs_grad[0]) return;
    const Shape x = g.shape(inputs[1]), out = g.shape(inputs[0]);
    const bool add = input_grad_accumulates[0];
    float* dout = add ? g.value(scratch_) : g.grad(inputs[0]);
    const Weight* w = g.seed_of(outputs[0]);
    if (!w) {
      if (!add) be.fill(dout, out.numel(), 0.0f);
      return;
    }
    ELBO_CHECK(!w->device_factor, kind() << ": the likelihood's weight must be a host value");
    if (gaussian_)
      be.gaussian_nll_backward(dout, g.value(inputs[0]), g.value(inputs[1]), x.n, int(x.row_size()), w->value);
    else
      be.bernoulli_nll_backward(dout, g.value(inputs[0]), g.value(inputs[1]), x.n, int(x.row_size()), w->value);
    if (add) be.axpy(g.grad(inputs[0]), dout, out.numel(), 1.0f);
  }

 private:
  bool gaussian_;
  Var scratch_;
};

class ImportanceLogWeightNode final : public Node {
 public:
  ImportanceLogWeightNode(Var nll, Var z, Var eps, Var stats, Var logw) {
    inputs = {nll, z, eps, stats};
    outputs = {logw};
  }
  const char* kind() const override { return "importance_log_weight"; }
  void forward(Backend& be, Graph& g) override {
    const Shape z = g.shape(inputs[1]);
    float* logw = g.value(outputs[0]);
    be.fill(logw, size_t(z.n), 0.0f);
    be.axpy(logw, g.value(inputs[0]), size_t(z.n), -1.0f);
    be.prior_minus_posterior_log_density(logw, g.value(inputs[1]), g.value(inputs[2]), g.value(inputs[3]), z.n,
                                         int(z.row_size()));
  }
};

Var per_row(Graph& g, Var like) { return g.tensor(Shape::rows(g.shape(like).n, 1)); }

}  // namespace

GaussianSample gaussian_sample(Graph& g, Var stats, const NoiseKey* noise) {
  const Shape s = g.shape(stats);
  const int latent = latent_of(g, stats);
  GaussianSample out{g.tensor(Shape::rows(s.n, latent)), g.constant(Shape::rows(s.n, latent))};
  g.add<GaussianSampleNode>(stats, out.z, out.eps, noise);
  return out;
}

Var kl_std_normal(Graph& g, Var stats) {
  latent_of(g, stats);
  Var kl = per_row(g, stats);
  g.add<KlStdNormalNode>(stats, kl);
  return kl;
}

namespace {
Var likelihood(Graph& g, Var out, Var x, bool gaussian) {
  const Shape so = g.shape(out), sx = g.shape(x);
  const size_t want = (gaussian ? 2 : 1) * sx.row_size();
  ELBO_CHECK(so.n == sx.n && so.row_size() == want, (gaussian ? "gaussian" : "bernoulli")
                                                        << " likelihood: decoder output " << so.str() << " for data "
                                                        << sx.str() << " (expected " << want << " values per row)");
  Var nll = per_row(g, x);
  g.add<LikelihoodNode>(out, x, nll, gaussian);
  return nll;
}
}  // namespace

Var bernoulli_nll(Graph& g, Var logits, Var x) { return likelihood(g, logits, x, false); }
Var gaussian_nll(Graph& g, Var out, Var x) { return likelihood(g, out, x, true); }

Var importance_log_weight(Graph& g, Var nll, const GaussianSample& sample, Var stats) {
  Var logw = per_row(g, nll);
  g.add<ImportanceLogWeightNode>(nll, sample.z, sample.eps, stats, logw);
  return logw;
}

}  // namespace elbo
