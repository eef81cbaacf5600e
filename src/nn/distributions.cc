#include "elbo/nn/distributions.h"

#include <cmath>

#include "elbo/error.h"
#include "elbo/nn/layers.h"

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
    be.distributions().reparameterize(g.value(outputs[0]), g.value(outputs[1]), g.value(inputs[0]), s.n,
                                      int(s.row_size()), *noise_);
  }
  void backward(Backend& be, Graph& g) override {
    const Shape s = g.shape(outputs[0]);
    float* dstats = g.grad(inputs[0]);
    if (!input_grad_accumulates[0]) be.fill(dstats, 2 * s.numel(), 0.0f);
    be.distributions().reparameterize_backward(dstats, g.grad(outputs[0]), g.value(outputs[1]), g.value(inputs[0]), s.n,
                                               int(s.row_size()));
  }

 private:
  const NoiseKey* noise_;
};

class KlStdNormalNode final : public Node {
 public:
  KlStdNormalNode(Var stats, Var kl, const float* const* dim_gates) : dim_gates_(dim_gates) {
    inputs = {stats};
    outputs = {kl};
  }
  const char* kind() const override { return "kl_std_normal"; }
  void forward(Backend& be, Graph& g) override {
    be.distributions().kl_forward(g.value(outputs[0]), g.value(inputs[0]), g.shape(outputs[0]).n,
                                  latent_of(g, inputs[0]));
  }
  void backward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    float* dstats = g.grad(inputs[0]);
    if (!input_grad_accumulates[0]) be.fill(dstats, s.numel(), 0.0f);
    Weight w;
    if (g.row_weight(outputs[0], &w))
      be.distributions().kl_backward(dstats, g.value(inputs[0]), s.n, latent_of(g, inputs[0]), w,
                                     dim_gates_ ? *dim_gates_ : nullptr);
  }

 private:
  const float* const* dim_gates_;
};

// Fills a constant tensor with one value at every forward (a fixed log-variance).
class FillNode final : public Node {
 public:
  FillNode(Var out, float value) : value_(value) { outputs = {out}; }
  const char* kind() const override { return "fill"; }
  void forward(Backend& be, Graph& g) override { be.fill(g.value(outputs[0]), g.shape(outputs[0]).numel(), value_); }

 private:
  float value_;
};

// The likelihoods share the wiring; their backend ops assign the gradient, so when
// another reader already wrote the input's gradient, this node writes into a scratch
// tensor and adds it.
class LikelihoodNode final : public Node {
 public:
  LikelihoodNode(Var out, Var x, Var nll, LikelihoodKind likelihood) : likelihood_(likelihood) {
    inputs = {out, x};
    outputs = {nll};
  }
  const char* kind() const override { return Likelihood{likelihood_}.name(); }
  void reserve(Graph& g) override {
    if (input_needs_grad[0] && input_grad_accumulates[0]) scratch_ = g.constant(g.shape(inputs[0]));
  }
  void forward(Backend& be, Graph& g) override {
    const Shape x = g.shape(inputs[1]);
    float* nll = g.value(outputs[0]);
    const float *out = g.value(inputs[0]), *data = g.value(inputs[1]);
    switch (likelihood_) {
      case LikelihoodKind::kBernoulli:
        return be.distributions().bernoulli_nll_forward(nll, out, data, x.n, int(x.row_size()));
      case LikelihoodKind::kGaussian:
        return be.distributions().gaussian_nll_forward(nll, out, data, x.n, int(x.row_size()));
      case LikelihoodKind::kDiscretizedLogistic:
        return be.distributions().dlogistic_nll_forward(nll, out, data, x.n, int(x.row_size()));
    }
  }
  void backward(Backend& be, Graph& g) override {
    ELBO_CHECK(!input_needs_grad[1], kind() << ": no gradient with respect to the data");
    if (!input_needs_grad[0]) return;
    const Shape x = g.shape(inputs[1]), out = g.shape(inputs[0]);
    const bool add = input_grad_accumulates[0];
    float* dout = add ? g.value(scratch_) : g.grad(inputs[0]);
    Weight w;
    if (!g.row_weight(outputs[0], &w)) {
      if (!add) be.fill(dout, out.numel(), 0.0f);
      return;
    }
    const float *values = g.value(inputs[0]), *data = g.value(inputs[1]);
    switch (likelihood_) {
      case LikelihoodKind::kBernoulli:
        be.distributions().bernoulli_nll_backward(dout, values, data, x.n, int(x.row_size()), w);
        break;
      case LikelihoodKind::kGaussian:
        be.distributions().gaussian_nll_backward(dout, values, data, x.n, int(x.row_size()), w);
        break;
      case LikelihoodKind::kDiscretizedLogistic:
        be.distributions().dlogistic_nll_backward(dout, values, data, x.n, int(x.row_size()), w);
        break;
    }
    if (add) be.axpy(g.grad(inputs[0]), dout, out.numel(), 1.0f);
  }

 private:
  LikelihoodKind likelihood_;
  Var scratch_;
};

// log p(z) - log q(z|x) of each sample row, for the prior N(0, I): the part of an
// importance log-weight besides the likelihood.
class PriorMinusPosteriorNode final : public Node {
 public:
  PriorMinusPosteriorNode(Var z, Var eps, Var stats, Var out) {
    inputs = {z, eps, stats};
    outputs = {out};
  }
  const char* kind() const override { return "prior_minus_posterior"; }
  void forward(Backend& be, Graph& g) override {
    const Shape z = g.shape(inputs[0]);
    float* out = g.value(outputs[0]);
    be.fill(out, size_t(z.n), 0.0f);
    be.distributions().prior_minus_posterior_log_density(out, g.value(inputs[0]), g.value(inputs[1]),
                                                         g.value(inputs[2]), z.n, int(z.row_size()));
  }
  // d/dz = -z (the prior); d/dlogvar = +1/2 (the posterior, eps fixed).
  void backward(Backend& be, Graph& g) override {
    ELBO_CHECK(!input_needs_grad[1], kind() << ": the noise eps takes no gradient");
    if (!input_needs_grad[0] && !input_needs_grad[2]) return;
    ELBO_CHECK(input_needs_grad[0] && input_needs_grad[2],
               kind() << ": z and its statistics must both take gradients, or neither");
    const Shape z = g.shape(inputs[0]), stats = g.shape(inputs[2]);
    if (!input_grad_accumulates[0]) be.fill(g.grad(inputs[0]), z.numel(), 0.0f);
    if (!input_grad_accumulates[2]) be.fill(g.grad(inputs[2]), stats.numel(), 0.0f);
    be.distributions().prior_minus_posterior_backward(g.grad(inputs[0]), g.grad(inputs[2]), g.value(inputs[0]), z.n,
                                                      int(z.row_size()), Weight::rows(g.grad(outputs[0])));
  }
};

class LogMeanExpNode final : public Node {
 public:
  LogMeanExpNode(Var logw, Var out, int k) : k_(k) {
    inputs = {logw};
    outputs = {out};
  }
  const char* kind() const override { return "log_mean_exp"; }
  void forward(Backend& be, Graph& g) override {
    be.distributions().log_mean_exp_rows(g.value(outputs[0]), g.value(inputs[0]), g.shape(outputs[0]).n, k_);
  }
  void backward(Backend& be, Graph& g) override {
    const int images = g.shape(outputs[0]).n;
    Weight w;
    const bool weighted = g.row_weight(outputs[0], &w);
    float* din = input_grad_accumulates[0] ? g.value(scratch_) : g.grad(inputs[0]);
    if (weighted)
      be.distributions().log_mean_exp_rows_backward(din, g.value(inputs[0]), g.value(outputs[0]), images, k_, w);
    else be.fill(din, size_t(images) * size_t(k_), 0.0f);
    if (input_grad_accumulates[0]) be.axpy(g.grad(inputs[0]), din, size_t(images) * size_t(k_), 1.0f);
  }
  void reserve(Graph& g) override {
    if (input_needs_grad[0] && input_grad_accumulates[0]) scratch_ = g.constant(g.shape(inputs[0]));
  }

 private:
  int k_;
  Var scratch_;
};

class PosteriorLogDensityNode final : public Node {
 public:
  PosteriorLogDensityNode(Var eps, Var stats, Var out) {
    inputs = {eps, stats};
    outputs = {out};
  }
  const char* kind() const override { return "posterior_log_density"; }
  void forward(Backend& be, Graph& g) override {
    const Shape e = g.shape(inputs[0]);
    be.distributions().posterior_log_density(g.value(outputs[0]), g.value(inputs[0]), g.value(inputs[1]), e.n,
                                             int(e.row_size()));
  }
  void backward(Backend& be, Graph& g) override {
    const Shape e = g.shape(inputs[0]);
    float* dstats = g.grad(inputs[1]);
    if (!input_grad_accumulates[1]) be.fill(dstats, g.shape(inputs[1]).numel(), 0.0f);
    Weight w;
    if (g.row_weight(outputs[0], &w))
      be.distributions().posterior_log_density_backward(dstats, e.n, int(e.row_size()), w);
  }
};

// Sample i against the components of its block (block = 0: one block of every row of z
// against every component): each block is one call of the op on its rows.
class GaussianLogDensityPairsNode final : public Node {
 public:
  GaussianLogDensityPairsNode(Var z, Var stats, Var out, int block, bool per_dimension)
      : block_(block), per_dimension_(per_dimension) {
    inputs = {z, stats};
    outputs = {out};
  }
  const char* kind() const override { return "gaussian_log_density_pairs"; }
  void forward(Backend& be, Graph& g) override {
    const Blocks b = blocks(g);
    for (int i = 0; i < b.count; ++i)
      be.distributions().gaussian_log_density_pairs(
          g.value(outputs[0]) + b.out_stride * i, g.value(inputs[0]) + b.z_stride * i,
          g.value(inputs[1]) + b.stats_stride * i, b.n, b.m, b.latent, per_dimension_);
  }
  void backward(Backend& be, Graph& g) override {
    const Blocks b = blocks(g);
    float* dz = grad_to_add(be, g, 0);  // the op adds
    float* dstats = grad_to_add(be, g, 1);
    for (int i = 0; i < b.count; ++i)
      be.distributions().gaussian_log_density_pairs_backward(
          dz ? dz + b.z_stride * i : nullptr, dstats ? dstats + b.stats_stride * i : nullptr,
          g.grad(outputs[0]) + b.out_stride * i, g.value(inputs[0]) + b.z_stride * i,
          g.value(inputs[1]) + b.stats_stride * i, b.n, b.m, b.latent, per_dimension_);
  }

 private:
  struct Blocks {
    int count, n, m, latent;
    size_t z_stride, stats_stride, out_stride;  // floats from one block to the next
  };
  Blocks blocks(Graph& g) const {
    const Shape z = g.shape(inputs[0]), stats = g.shape(inputs[1]);
    Blocks b;
    b.latent = int(z.row_size());
    b.count = block_ > 0 ? z.n / block_ : 1;
    b.n = block_ > 0 ? block_ : z.n;
    b.m = block_ > 0 ? block_ : stats.n;
    b.z_stride = size_t(b.n) * size_t(b.latent);
    b.stats_stride = size_t(b.n) * 2 * size_t(b.latent);
    b.out_stride = size_t(b.n) * size_t(b.m) * (per_dimension_ ? size_t(b.latent) : 1);
    return b;
  }
  int block_;
  bool per_dimension_;
};

// tc[i] = joint[i] - sum_j dims[i*L + j]: the total correlation from the two log-mean-exps.
class TotalCorrelationNode final : public Node {
 public:
  TotalCorrelationNode(Var joint, Var dims, Var out, Var ones, Var scratch) : ones_(ones), scratch_(scratch) {
    inputs = {joint, dims};
    outputs = {out};
  }
  const char* kind() const override { return "total_correlation"; }
  void forward(Backend& be, Graph& g) override {
    const int n = g.shape(outputs[0]).n, latent = dims_per_row(g);
    float* out = g.value(outputs[0]);
    be.fill(g.value(ones_), size_t(latent), 1.0f);
    be.copy(out, g.value(inputs[0]), size_t(n));
    be.gemm(false, false, n, 1, latent, -1.0f, g.value(inputs[1]), g.value(ones_), 1.0f, out);
  }
  void backward(Backend& be, Graph& g) override {
    const int n = g.shape(outputs[0]).n, latent = dims_per_row(g);
    float* djoint = grad_to_add(be, g, 0);
    float* ddims = grad_to_add(be, g, 1);
    Weight w;
    if (!g.row_weight(outputs[0], &w)) return;
    float* dtc = g.value(scratch_);
    be.fill_weight(dtc, size_t(n), w);
    if (djoint) be.axpy(djoint, dtc, size_t(n), 1.0f);
    if (ddims) be.gemm(false, false, n, latent, 1, -1.0f, dtc, g.value(ones_), 1.0f, ddims);
  }

 private:
  int dims_per_row(Graph& g) const { return int(g.shape(inputs[1]).n / g.shape(outputs[0]).n); }
  Var ones_, scratch_;
};

// Means over each image's k samples as one GEMM each: (images x k) times a column of 1/k.
class SampleMeansNode final : public Node {
 public:
  SampleMeansNode(Var nll, Var logw, Var recon, Var kl, Var weights, int k) : weights_(weights), k_(k) {
    inputs = {nll, logw};
    outputs = {recon, kl};
    observes_only = true;
  }
  const char* kind() const override { return "sample_means"; }
  void forward(Backend& be, Graph& g) override {
    const int images = g.shape(outputs[0]).n;
    float* w = g.value(weights_);  // (1/k | -1/k)
    be.fill(w, size_t(k_), 1.0f / float(k_));
    be.fill(w + k_, size_t(k_), -1.0f / float(k_));
    be.gemm(false, false, images, 1, k_, 1.0f, g.value(inputs[0]), w, 0.0f, g.value(outputs[0]));
    be.gemm(false, false, images, 1, k_, 1.0f, g.value(inputs[1]), w + k_, 0.0f, g.value(outputs[1]));
    be.axpy(g.value(outputs[1]), g.value(outputs[0]), size_t(images), -1.0f);
  }

 private:
  Var weights_;
  int k_;
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

Var kl_std_normal(Graph& g, Var stats, const float* const* dim_gates) {
  latent_of(g, stats);
  Var kl = per_row(g, stats);
  g.add<KlStdNormalNode>(stats, kl, dim_gates);
  return kl;
}

Likelihood parse_likelihood(const std::string& name, float gaussian_sigma) {
  Likelihood l;
  if (name == "bernoulli") l.kind = LikelihoodKind::kBernoulli;
  else if (name == "gaussian") l.kind = LikelihoodKind::kGaussian;
  else if (name == "discretized_logistic") l.kind = LikelihoodKind::kDiscretizedLogistic;
  else throw Error("model.likelihood: expected bernoulli, gaussian or discretized_logistic, got '" + name + "'");
  ELBO_CHECK(gaussian_sigma >= 0.0f && (gaussian_sigma == 0.0f || l.kind == LikelihoodKind::kGaussian),
             "model.gaussian_sigma: " << gaussian_sigma << " for model.likelihood " << name
                                      << " (a fixed sigma > 0 is for gaussian only; 0 learns it)");
  l.fixed_sigma = gaussian_sigma;
  return l;
}

const char* Likelihood::name() const {
  switch (kind) {
    case LikelihoodKind::kBernoulli: return "bernoulli";
    case LikelihoodKind::kGaussian: return fixed_sigma > 0.0f ? "gaussian (fixed sigma)" : "gaussian";
    case LikelihoodKind::kDiscretizedLogistic: return "discretized_logistic";
  }
  return "?";
}

int Likelihood::params() const {
  return kind == LikelihoodKind::kBernoulli || (kind == LikelihoodKind::kGaussian && fixed_sigma > 0.0f) ? 1 : 2;
}

Var likelihood_nll(Graph& g, Var out, Var x, Likelihood likelihood) {
  const Shape so = g.shape(out), sx = g.shape(x);
  const size_t want = size_t(likelihood.params()) * sx.row_size();
  ELBO_CHECK(so.n == sx.n && so.row_size() == want, likelihood.name()
                                                        << " likelihood: decoder output " << so.str() << " for data "
                                                        << sx.str() << " (expected " << want << " values per row)");
  if (likelihood.kind == LikelihoodKind::kGaussian && likelihood.fixed_sigma > 0.0f) {
    // The means and a constant log-variance column block: the Gaussian's op, its
    // gradient reaching the means only.
    Var logvar = g.constant(Shape::rows(sx.n, int(sx.row_size())));
    g.add<FillNode>(logvar, 2.0f * std::log(likelihood.fixed_sigma));
    out = concat_columns(g, g.view(out, Shape::rows(so.n, int(so.row_size()))), logvar);
  }
  Var nll = per_row(g, x);
  g.add<LikelihoodNode>(out, x, nll, likelihood.kind);
  return nll;
}

Var likelihood_mean(Graph& g, Var out, Likelihood likelihood) {
  const Shape s = g.shape(out);
  if (likelihood.kind == LikelihoodKind::kBernoulli) return activation(g, out, Activation::kSigmoid);
  if (likelihood.params() == 1) return out;  // the means themselves
  return columns(g, g.view(out, Shape::rows(s.n, int(s.row_size()))), 0, int(s.row_size() / 2));
}

Var bernoulli_nll(Graph& g, Var logits, Var x) { return likelihood_nll(g, logits, x, {LikelihoodKind::kBernoulli}); }
Var gaussian_nll(Graph& g, Var out, Var x) { return likelihood_nll(g, out, x, {LikelihoodKind::kGaussian}); }

Var prior_minus_posterior(Graph& g, const GaussianSample& sample, Var stats) {
  ELBO_CHECK(g.shape(stats).row_size() == 2 * g.shape(sample.z).row_size() && g.shape(stats).n == g.shape(sample.z).n,
             "prior_minus_posterior: statistics " << g.shape(stats).str() << " for samples " << g.shape(sample.z).str());
  Var out = per_row(g, sample.z);
  g.add<PriorMinusPosteriorNode>(sample.z, sample.eps, stats, out);
  return out;
}

Var posterior_log_density(Graph& g, const GaussianSample& sample, Var stats) {
  ELBO_CHECK(g.shape(stats).row_size() == 2 * g.shape(sample.eps).row_size() && g.shape(stats).n == g.shape(sample.eps).n,
             "posterior_log_density: statistics " << g.shape(stats).str() << " for samples " << g.shape(sample.eps).str());
  Var out = per_row(g, stats);
  g.add<PosteriorLogDensityNode>(sample.eps, stats, out);
  return out;
}

Var gaussian_log_density_pairs(Graph& g, Var z, Var component_stats, int block, bool per_dimension) {
  const Shape sz = g.shape(z), sc = g.shape(component_stats);
  ELBO_CHECK(sc.row_size() == 2 * sz.row_size(), "gaussian_log_density_pairs: components "
                                                     << sc.str() << " for samples " << sz.str()
                                                     << " (expected 2 x " << sz.row_size() << " values per component)");
  ELBO_CHECK(block == 0 || (block > 0 && sz.n == sc.n && sz.n % block == 0),
             "gaussian_log_density_pairs: blocks of " << block << " rows for " << sz.n << " samples and " << sc.n
                                                      << " components (expected as many of each, a multiple of the block)");
  const int columns = block > 0 ? block : sc.n;
  const int rows = per_dimension ? sz.n * int(sz.row_size()) : sz.n;
  Var out = g.tensor(Shape::rows(rows, columns));
  g.add<GaussianLogDensityPairsNode>(z, component_stats, out, block, per_dimension);
  return out;
}

namespace {
int images_of(Graph& g, Var per_sample, int k, const char* what) {
  const Shape s = g.shape(per_sample);
  ELBO_CHECK(k >= 1 && s.row_size() == 1 && s.n % k == 0,
             what << ": expected images * k rows of one value for k = " << k << ", got " << s.str());
  return s.n / k;
}
}  // namespace

Var log_mean_exp(Graph& g, Var logw, int k) {
  Var out = g.tensor(Shape::rows(images_of(g, logw, k, "log_mean_exp"), 1));
  g.add<LogMeanExpNode>(logw, out, k);
  return out;
}

SampleMeans sample_means(Graph& g, Var nll, Var logw, int k) {
  const int images = images_of(g, nll, k, "sample_means");
  ELBO_CHECK(g.shape(logw).numel() == g.shape(nll).numel(), "sample_means: nll and logw differ in size");
  SampleMeans m{g.tensor(Shape::rows(images, 1)), g.tensor(Shape::rows(images, 1))};
  g.add<SampleMeansNode>(nll, logw, m.recon, m.kl, g.constant(Shape::rows(1, 2 * k)), k);
  return m;
}

Var total_correlation(Graph& g, const GaussianSample& sample, Var stats, int block) {
  const Shape sz = g.shape(sample.z);
  const int n = sz.n, latent = int(sz.row_size());
  ELBO_CHECK(block > 0 && n % block == 0, "total_correlation: blocks of " << block << " rows for " << n << " samples");
  auto flat = [&g](Var v) { return g.view(v, Shape::rows(int(g.shape(v).numel()), 1)); };
  Var joint = log_mean_exp(g, flat(gaussian_log_density_pairs(g, sample.z, stats, block)), block);
  Var dims = log_mean_exp(g, flat(gaussian_log_density_pairs(g, sample.z, stats, block, true)), block);
  Var tc = g.tensor(Shape::rows(n, 1));
  g.add<TotalCorrelationNode>(joint, dims, tc, g.constant(Shape::rows(latent, 1)), g.constant(Shape::rows(n, 1)));
  return tc;
}

}  // namespace elbo
