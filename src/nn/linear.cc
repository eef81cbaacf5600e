#include "elbo/nn/linear.h"

#include "elbo/error.h"
#include "elbo/nn/layers.h"

namespace elbo {
namespace {

// The weight is the store's slice w, or (weight norm) the graph tensor `weight`, then
// the node's second input.
class LinearNode final : public Node {
 public:
  LinearNode(Var x, Var weight, Var y, int w, int b, int in, int out, Activation act)
      : in_(in), out_(out), act_(act), w_(w), b_(b) {
    inputs = {x};
    outputs = {y};
    param_slices = {b};
    if (weight.valid())
      inputs.push_back(weight);
    else
      param_slices.insert(param_slices.begin(), w);
  }
  const char* kind() const override { return "linear"; }

  void forward(Backend& be, Graph& g) override {
    const int rows = g.shape(outputs[0]).n;
    float* y = g.value(outputs[0]);
    ParamStore& ps = g.params();
    const GemmArgs product{false, true, rows, out_, in_, 1.0f, g.value(inputs[0]), weight(g), 0.0f, y};
    be.layer_gemms(&product, 1);
    be.bias_act_forward(y, ps.param(b_), rows, out_, act_);
  }

  void backward(Backend& be, Graph& g) override {
    const int rows = g.shape(outputs[0]).n;
    ParamStore& ps = g.params();
    // The output's gradient is this node's to change now: every reader has added to it.
    float* dy = g.grad(outputs[0]);
    if (act_ != Activation::kIdentity) be.act_backward(dy, dy, g.value(outputs[0]), size_t(rows) * out_, act_);
    // dW += dy^T x ; db += column sums of dy ; dx (=|+=) dy W
    const bool from_graph = inputs.size() > 1;
    const float w_beta = from_graph && !input_grad_accumulates[1] ? 0.0f : 1.0f;
    float* dw = from_graph ? g.grad(inputs[1]) : ps.grad(w_);
    const GemmArgs weight_grad{true, false, out_, in_, rows, 1.0f, dy, g.value(inputs[0]), w_beta, dw};
    const GemmArgs both[2] = {weight_grad, GemmArgs{false, false, rows, in_, out_, 1.0f, dy, weight(g),
                                                    input_grad_accumulates[0] ? 1.0f : 0.0f, g.grad(inputs[0])}};
    be.layer_gemms(both, input_needs_grad[0] ? 2 : 1);
    be.bias_grad(ps.grad(b_), dy, rows, out_);
  }

 private:
  const float* weight(Graph& g) const { return inputs.size() > 1 ? g.value(inputs[1]) : g.params().param(w_); }

  int in_, out_;
  Activation act_;
  int w_, b_;
};

}  // namespace

Linear::Linear(ParamStore& store, const std::string& name, int in, int out, Activation act,
               const WeightOptions& options)
    : in_(in), out_(out), act_(act) {
  const WeightSlices w = add_weight(store, name, {out, in}, in, options);
  w_ = w.w;
  g_ = w.g;
  b_ = store.add(name + ".bias", {out}, in, ParamInit::uniform(options.init_scale));
}

Var Linear::operator()(Graph& g, Var x) const {
  const Shape s = g.shape(x);
  ELBO_CHECK(int(s.row_size()) == in_, "linear layer: input rows hold " << s.row_size() << " values, the layer takes "
                                                                        << in_);
  Var weight = g_ >= 0 ? weight_norm(g, w_, g_, out_, in_) : Var{};
  Var y = g.tensor(Shape::rows(s.n, out_));
  const bool separate = act_grad_needs_input(act_);  // its derivative needs the pre-activation
  g.add<LinearNode>(x, weight, y, w_, b_, in_, out_, separate ? Activation::kIdentity : act_);
  return separate ? activation(g, y, act_) : y;
}

}  // namespace elbo
