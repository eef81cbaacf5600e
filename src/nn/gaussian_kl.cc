#include "elbo/nn/gaussian_kl.h"

#include "elbo/error.h"

namespace elbo {
namespace {

// Both (mu | logvar) arrays of one shape, rows x 2L; returns L.
int pair_latent(Graph& g, Var q, Var p, const char* what) {
  const Shape sq = g.shape(q), sp = g.shape(p);
  ELBO_CHECK(sq.n == sp.n && sq.row_size() == sp.row_size() && sq.row_size() % 2 == 0,
             what << ": q and p must both be rows x 2L (mu | logvar), got " << sq.str() << " and " << sp.str());
  return int(sq.row_size() / 2);
}

class KlGaussiansNode final : public Node {
 public:
  KlGaussiansNode(Var q, Var p, Var kl) {
    inputs = {q, p};
    outputs = {kl};
  }
  const char* kind() const override { return "kl_gaussians"; }
  void forward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    be.distributions().kl_gaussians_forward(g.value(outputs[0]), g.value(inputs[0]), g.value(inputs[1]), s.n,
                                            int(s.row_size() / 2));
  }
  void backward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    float* dq = grad_to_add(be, g, 0);
    float* dp = grad_to_add(be, g, 1);
    Weight w;
    if ((dq || dp) && g.row_weight(outputs[0], &w))
      be.distributions().kl_gaussians_backward(dq, dp, g.value(inputs[0]), g.value(inputs[1]), s.n,
                                               int(s.row_size() / 2), w);
  }
};

class GaussianLogRatioNode final : public Node {
 public:
  GaussianLogRatioNode(Var z, Var eps, Var q, Var p, Var logw) {
    inputs = {z, eps, q, p};
    outputs = {logw};
  }
  const char* kind() const override { return "gaussian_log_ratio"; }
  void forward(Backend& be, Graph& g) override {
    const Shape z = g.shape(inputs[0]);
    float* logw = g.value(outputs[0]);
    be.fill(logw, size_t(z.n), 0.0f);
    be.distributions().gaussian_log_ratio_forward(logw, g.value(inputs[0]), g.value(inputs[1]), g.value(inputs[2]),
                                                  g.value(inputs[3]), z.n, int(z.row_size()));
  }
  void backward(Backend& be, Graph& g) override {
    ELBO_CHECK(!input_needs_grad[1], kind() << ": the noise eps takes no gradient");
    const Shape z = g.shape(inputs[0]);
    float* dz = grad_to_add(be, g, 0);
    float* dq = grad_to_add(be, g, 2);
    float* dp = grad_to_add(be, g, 3);
    Weight w;
    if ((dz || dq || dp) && g.row_weight(outputs[0], &w))
      be.distributions().gaussian_log_ratio_backward(dz, dq, dp, g.value(inputs[0]), g.value(inputs[3]), z.n,
                                                     int(z.row_size()), w);
  }
};

}  // namespace

Var kl_gaussians(Graph& g, Var q, Var p) {
  pair_latent(g, q, p, "kl_gaussians");
  Var kl = g.tensor(Shape::rows(g.shape(q).n, 1));
  g.add<KlGaussiansNode>(q, p, kl);
  return kl;
}

Var gaussian_log_ratio(Graph& g, const GaussianSample& sample, Var q, Var p) {
  const int latent = pair_latent(g, q, p, "gaussian_log_ratio");
  const Shape z = g.shape(sample.z);
  ELBO_CHECK(z.n == g.shape(q).n && int(z.row_size()) == latent,
             "gaussian_log_ratio: the sample " << z.str() << " is not one of q " << g.shape(q).str());
  Var logw = g.tensor(Shape::rows(z.n, 1));
  g.add<GaussianLogRatioNode>(sample.z, sample.eps, q, p, logw);
  return logw;
}

}  // namespace elbo
