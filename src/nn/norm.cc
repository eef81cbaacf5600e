#include "elbo/nn/norm.h"

#include "elbo/error.h"

namespace elbo {
namespace {

class GroupNormNode final : public Node {
 public:
  GroupNormNode(Var x, Var y, Var stats, int gamma, int beta, int groups, float eps)
      : stats_(stats), gamma_(gamma), beta_(beta), groups_(groups), eps_(eps) {
    inputs = {x};
    outputs = {y};
    param_slices = {gamma, beta};
  }
  const char* kind() const override { return "group_norm"; }
  void forward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    ParamStore& ps = g.params();
    be.group_norm_forward(g.value(outputs[0]), g.value(stats_), g.value(inputs[0]), ps.param(gamma_), ps.param(beta_),
                          s.n, s.c, s.h * s.w, groups_, eps_);
  }
  void backward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    ParamStore& ps = g.params();
    be.group_norm_backward(input_needs_grad[0] ? g.grad(inputs[0]) : nullptr, ps.grad(gamma_), ps.grad(beta_),
                           g.grad(outputs[0]), g.value(inputs[0]), g.value(stats_), ps.param(gamma_), s.n, s.c,
                           s.h * s.w, groups_, input_grad_accumulates[0]);
  }

 private:
  Var stats_;  // (mean, rstd) per sample and group, kept from forward for backward
  int gamma_, beta_, groups_;
  float eps_;
};

}  // namespace

GroupNorm::GroupNorm(ParamStore& store, const std::string& name, int channels, int groups, float eps)
    : channels_(channels), groups_(groups), eps_(eps) {
  ELBO_CHECK(channels > 0 && groups > 0 && channels % groups == 0,
             "group_norm " << name << ": " << groups << " groups cannot split " << channels << " channels");
  gamma_ = store.add(name + ".weight", {channels}, 1, ParamInit::constant(1.0f));
  beta_ = store.add(name + ".bias", {channels}, 1, ParamInit::constant(0.0f));
}

Var GroupNorm::operator()(Graph& g, Var x) const {
  const Shape s = g.shape(x);
  ELBO_CHECK(s.c == channels_, "group_norm: input " << s.str() << " has " << s.c << " channels, the layer takes "
                                                    << channels_);
  Var y = g.tensor(s);
  Var stats = g.constant(Shape::rows(s.n, 2 * groups_));
  g.add<GroupNormNode>(x, y, stats, gamma_, beta_, groups_, eps_);
  return y;
}

}  // namespace elbo
