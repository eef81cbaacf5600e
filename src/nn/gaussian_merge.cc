#include "elbo/nn/gaussian_merge.h"

#include "elbo/error.h"

namespace elbo {
namespace {

class GaussianMergeNode final : public Node {
 public:
  GaussianMergeNode(Var a, Var b, Var out) {
    inputs = {a, b};
    outputs = {out};
  }
  const char* kind() const override { return "gaussian_merge"; }
  void forward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    be.distributions().gaussian_merge_forward(g.value(outputs[0]), g.value(inputs[0]), g.value(inputs[1]), s.n,
                                              int(s.row_size() / 2));
  }
  void backward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    float* d[2] = {nullptr, nullptr};
    for (size_t i = 0; i < 2; ++i) {
      if (!input_needs_grad[i]) continue;
      d[i] = g.grad(inputs[i]);
      if (!input_grad_accumulates[i]) be.fill(d[i], s.numel(), 0.0f);
    }
    const float* dout = g.grad(outputs[0]);
    if (dout && (d[0] || d[1]))
      be.distributions().gaussian_merge_backward(d[0], d[1], dout, g.value(inputs[0]), g.value(inputs[1]), s.n,
                                                 int(s.row_size() / 2));
  }
};

}  // namespace

Var gaussian_merge(Graph& g, Var a, Var b) {
  const Shape sa = g.shape(a), sb = g.shape(b);
  ELBO_CHECK(sa.n == sb.n && sa.row_size() == sb.row_size() && sa.row_size() % 2 == 0,
             "gaussian_merge: both inputs must be rows x 2L (mu | logvar), got " << sa.str() << " and " << sb.str());
  Var out = g.tensor(sa);
  g.add<GaussianMergeNode>(a, b, out);
  return out;
}

}  // namespace elbo
