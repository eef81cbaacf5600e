#include "elbo/nn/linear.h"

#include "elbo/error.h"

namespace elbo {
namespace {

class LinearNode final : public Node {
 public:
  LinearNode(Var x, Var y, int w, int b, int in, int out, Activation act) : in_(in), out_(out), act_(act), w_(w), b_(b) {
    inputs = {x};
    outputs = {y};
    param_slices = {w, b};
  }
  const char* kind() const override { return "linear"; }

  void forward(Backend& be, Graph& g) override {
    const int rows = g.shape(outputs[0]).n;
    float* y = g.value(outputs[0]);
    ParamStore& ps = g.params();
    be.gemm(false, true, rows, out_, in_, 1.0f, g.value(inputs[0]), ps.param(w_), 0.0f, y);
    be.bias_act_forward(y, ps.param(b_), rows, out_, act_);
  }

  void backward(Backend& be, Graph& g) override {
    const int rows = g.shape(outputs[0]).n;
    ParamStore& ps = g.params();
    // The output's gradient is this node's to change now: every reader has added to it.
    float* dy = g.grad(outputs[0]);
    if (act_ != Activation::kIdentity) be.act_backward(dy, dy, g.value(outputs[0]), size_t(rows) * out_, act_);
    // dW += dy^T x ; db += column sums of dy ; dx (=|+=) dy W
    const GemmArgs weight_grad{true, false, out_, in_, rows, 1.0f, dy, g.value(inputs[0]), 1.0f, ps.grad(w_)};
    if (input_needs_grad[0])
      be.gemm_pair(weight_grad, GemmArgs{false, false, rows, in_, out_, 1.0f, dy, ps.param(w_),
                                         input_grad_accumulates[0] ? 1.0f : 0.0f, g.grad(inputs[0])});
    else
      be.gemm(weight_grad);
    be.bias_grad(ps.grad(b_), dy, rows, out_);
  }

 private:
  int in_, out_;
  Activation act_;
  int w_, b_;
};

}  // namespace

Linear::Linear(ParamStore& store, const std::string& name, int in, int out, Activation act)
    : in_(in), out_(out), act_(act) {
  w_ = store.add(name + ".weight", {out, in}, in);
  b_ = store.add(name + ".bias", {out}, in);
}

Var Linear::operator()(Graph& g, Var x) const {
  const Shape s = g.shape(x);
  ELBO_CHECK(int(s.row_size()) == in_, "linear layer: input rows hold " << s.row_size() << " values, the layer takes "
                                                                        << in_);
  Var y = g.tensor(Shape::rows(s.n, out_));
  g.add<LinearNode>(x, y, w_, b_, in_, out_, act_);
  return y;
}

}  // namespace elbo
