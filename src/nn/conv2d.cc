#include "elbo/nn/conv2d.h"

#include "elbo/error.h"
#include "elbo/nn/layers.h"

namespace elbo {
namespace {

// The activation fused after a conv: applied in place with a zero bias (the conv op
// already added the real one), differentiated from the output in backward. With the
// zero bias it is element-wise, blind to a channel-blocked layout (nn/graph.h).
void activate(Backend& be, Graph& g, Var y, Var zero_bias, Activation act) {
  if (act == Activation::kIdentity) return;
  const Shape s = g.shape(y);
  be.bias_act_forward(g.value(y), g.value(zero_bias), s.n, int(s.row_size()), act);
}

float* pre_activation_grad(Backend& be, Graph& g, Var y, Activation act) {
  float* dy = g.grad(y);  // ours to change: every reader of y has added to it
  if (act != Activation::kIdentity) be.act_backward(dy, dy, g.value(y), g.shape(y).numel(), act);
  return dy;
}

// The weight is the store's slice w, or (weight norm) the graph tensor `weight`, then
// the node's second input.
class Conv2dNode final : public Node {
 public:
  Conv2dNode(Var x, Var weight, Var y, Var zero_bias, int w, int b, ConvShape s, Activation act)
      : zero_bias_(zero_bias), w_(w), b_(b), s_(s), act_(act) {
    inputs = {x};
    outputs = {y};
    param_slices = {b};
    if (weight.valid())
      inputs.push_back(weight);
    else
      param_slices.insert(param_slices.begin(), w);
  }
  const char* kind() const override { return "conv2d"; }
  // x and y in the layouts the graph chose (the fused activation is element-wise).
  LayoutRule layout_rule() const override { return LayoutRule::kConv; }
  void forward(Backend& be, Graph& g) override {
    be.conv2d_forward(g.value(outputs[0]), g.value(inputs[0]), weight(g), g.params().param(b_), shape(g));
    activate(be, g, outputs[0], zero_bias_, act_);
  }
  void backward(Backend& be, Graph& g) override {
    ParamStore& ps = g.params();
    const ConvShape s = shape(g);
    const float* dy = pre_activation_grad(be, g, outputs[0], act_);
    float* dw = ps.grad(w_);
    if (inputs.size() > 1) {  // the weight tensor's gradient: the op adds, so a first writer clears it
      dw = g.grad(inputs[1]);
      if (!input_grad_accumulates[1]) be.fill(dw, s.w_size(), 0.0f);
    }
    be.conv2d_backward_weights(dw, ps.grad(b_), dy, g.value(inputs[0]), s);
    if (input_needs_grad[0])
      be.conv2d_backward_data(g.grad(inputs[0]), dy, weight(g), s, input_grad_accumulates[0] ? 1.0f : 0.0f);
  }

 private:
  const float* weight(Graph& g) const { return inputs.size() > 1 ? g.value(inputs[1]) : g.params().param(w_); }
  ConvShape shape(const Graph& g) const {
    ConvShape s = s_;
    s.x_block = g.channel_block(inputs[0]);
    s.y_block = g.channel_block(outputs[0]);
    return s;
  }

  Var zero_bias_;
  int w_, b_;
  ConvShape s_;
  Activation act_;
};

// With s the shape of the Conv2d whose input gradient this layer computes:
// forward = that conv's backward-data, backward-data = its forward,
// backward-weights = its backward-weights with the roles of x and dy exchanged.
class ConvTranspose2dNode final : public Node {
 public:
  ConvTranspose2dNode(Var x, Var y, Var zero_bias, int w, ConvShape s, Activation act)
      : zero_bias_(zero_bias), w_(w), s_(s), act_(act) {
    inputs = {x};
    outputs = {y};
    param_slices = {w};
  }
  const char* kind() const override { return "conv_transpose2d"; }
  void reserve(Graph& g) override {
    if (input_needs_grad[0] && input_grad_accumulates[0]) scratch_ = g.constant(g.shape(inputs[0]));
  }
  void forward(Backend& be, Graph& g) override {
    be.conv2d_backward_data(g.value(outputs[0]), g.value(inputs[0]), g.params().param(w_), s_, 0.0f);
    activate(be, g, outputs[0], zero_bias_, act_);
  }
  void backward(Backend& be, Graph& g) override {
    ParamStore& ps = g.params();
    const float* dy = pre_activation_grad(be, g, outputs[0], act_);
    be.conv2d_backward_weights(ps.grad(w_), nullptr, g.value(inputs[0]), dy, s_);
    if (!input_needs_grad[0]) return;
    const bool add = input_grad_accumulates[0];
    float* dx = add ? g.value(scratch_) : g.grad(inputs[0]);
    be.conv2d_forward(dx, dy, ps.param(w_), nullptr, s_);
    if (add) be.axpy(g.grad(inputs[0]), dx, g.shape(inputs[0]).numel(), 1.0f);
  }

 private:
  Var zero_bias_, scratch_;
  int w_;
  ConvShape s_;
  Activation act_;
};

// The activation fused into the conv node: identity for those whose derivative needs
// their input, which then follow as an activation node (it keeps the pre-activation).
Activation fusable(Activation act) { return act_grad_needs_input(act) ? Activation::kIdentity : act; }

Var zero_bias_for(Graph& g, Shape y, Activation act) {
  return act == Activation::kIdentity ? Var{} : g.constant(Shape::rows(1, int(y.row_size())));
}

}  // namespace

Conv2d::Conv2d(ParamStore& store, const std::string& name, int c_in, int c_out, int kernel, int stride, int pad,
               Activation act, const WeightOptions& options)
    : c_in_(c_in), c_out_(c_out), kernel_(kernel), stride_(stride), pad_(pad), act_(act) {
  const int64_t fan_in = int64_t(c_in) * kernel * kernel;
  const WeightSlices w = add_weight(store, name, {c_out, c_in, kernel, kernel}, fan_in, options);
  w_ = w.w;
  g_ = w.g;
  b_ = store.add(name + ".bias", {c_out}, fan_in, ParamInit::uniform(options.init_scale));
}

Var Conv2d::operator()(Graph& g, Var x) const {
  const Shape in = g.shape(x);
  ELBO_CHECK(in.c == c_in_, "conv2d: input " << in.str() << " has " << in.c << " channels, the layer takes " << c_in_);
  ConvShape s{in.n, c_in_, in.h, in.w, c_out_, kernel_, kernel_, stride_, pad_};
  check_conv_shape(s, "conv2d layer");
  const Shape out = Shape::images(in.n, c_out_, s.out_h(), s.out_w());
  Var weight = g_ >= 0 ? weight_norm(g, w_, g_, c_out_, c_in_ * kernel_ * kernel_) : Var{};
  Var y = g.tensor(out);
  const Activation fused = fusable(act_);
  g.add<Conv2dNode>(x, weight, y, zero_bias_for(g, out, fused), w_, b_, s, fused);
  return fused == act_ ? y : activation(g, y, act_);
}

ConvTranspose2d::ConvTranspose2d(ParamStore& store, const std::string& name, int c_in, int c_out, int kernel,
                                 int stride, int pad, Activation act)
    : c_in_(c_in), c_out_(c_out), kernel_(kernel), stride_(stride), pad_(pad), act_(act) {
  // PyTorch's ConvTranspose2d: weight [in, out, k, k], fan-in computed from dim 1 (out * k * k).
  w_ = store.add(name + ".weight", {c_in, c_out, kernel, kernel}, int64_t(c_out) * kernel * kernel);
}

Var ConvTranspose2d::operator()(Graph& g, Var x) const {
  const Shape in = g.shape(x);
  ELBO_CHECK(in.c == c_in_, "conv_transpose2d: input " << in.str() << " has " << in.c << " channels, the layer takes "
                                                       << c_in_);
  const int out_h = (in.h - 1) * stride_ - 2 * pad_ + kernel_, out_w = (in.w - 1) * stride_ - 2 * pad_ + kernel_;
  ConvShape s{in.n, c_out_, out_h, out_w, c_in_, kernel_, kernel_, stride_, pad_};
  check_conv_shape(s, "conv_transpose2d layer");
  ELBO_CHECK(s.out_h() == in.h && s.out_w() == in.w,
             "conv_transpose2d: kernel " << kernel_ << ", stride " << stride_ << ", padding " << pad_
                                         << " cannot map " << in.h << "x" << in.w << " exactly");
  const Shape out = Shape::images(in.n, c_out_, out_h, out_w);
  Var y = g.tensor(out);
  const Activation fused = fusable(act_);
  g.add<ConvTranspose2dNode>(x, y, zero_bias_for(g, out, fused), w_, s, fused);
  return fused == act_ ? y : activation(g, y, act_);
}

}  // namespace elbo
