#include "elbo/nn/variance_bound.h"

#include "elbo/error.h"

namespace elbo {
namespace {

class VarianceBoundNode final : public Node {
 public:
  VarianceBoundNode(Var stats, Var out, const VarianceBound& bound) : bound_(bound) {
    inputs = {stats};
    outputs = {out};
  }
  const char* kind() const override { return "variance_bound"; }
  void forward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    be.distributions().bound_logvar_forward(g.value(outputs[0]), g.value(inputs[0]), s.n, int(s.row_size() / 2),
                                            bound_.logvar_clamp, bound_.sigma_floor);
  }
  void backward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    float* dstats = grad_to_add(be, g, 0);
    const float* dout = g.grad(outputs[0]);
    if (dstats && dout)
      be.distributions().bound_logvar_backward(dstats, dout, g.value(inputs[0]), s.n, int(s.row_size() / 2),
                                               bound_.logvar_clamp, bound_.sigma_floor);
  }

 private:
  VarianceBound bound_;
};

}  // namespace

Var bound_variance(Graph& g, Var stats, const VarianceBound& bound) {
  if (!bound.active()) return stats;
  const Shape s = g.shape(stats);
  ELBO_CHECK(s.row_size() % 2 == 0, "bound_variance: rows must hold (mu | logvar), got " << s.str());
  Var out = g.tensor(s);
  g.add<VarianceBoundNode>(stats, out, bound);
  return out;
}

}  // namespace elbo
