#include "elbo/nn/layers.h"

#include "elbo/error.h"

namespace elbo {
namespace {

// dst (=|+=) src, by the node's gradient mode of that input.
void write_grad(Backend& be, float* dst, const float* src, size_t n, bool accumulate) {
  if (accumulate)
    be.axpy(dst, src, n, 1.0f);
  else
    be.copy(dst, src, n);
}

class ParameterNode final : public Node {
 public:
  ParameterNode(Var y, int slice) : slice_(slice) {
    outputs = {y};
    param_slices = {slice};
  }
  const char* kind() const override { return "parameter"; }
  void forward(Backend& be, Graph& g) override {
    be.copy(g.value(outputs[0]), g.params().param(slice_), g.shape(outputs[0]).numel());
  }
  void backward(Backend& be, Graph& g) override {
    be.axpy(g.params().grad(slice_), g.grad(outputs[0]), g.shape(outputs[0]).numel(), 1.0f);
  }

 private:
  int slice_;
};

class ActivationNode final : public Node {
 public:
  ActivationNode(Var x, Var y, Var zero_bias, Activation act) : act_(act), zero_bias_(zero_bias) {
    inputs = {x};
    outputs = {y};
  }
  const char* kind() const override { return "activation"; }
  // Element-wise: its bias is the all-zero constant (a real per-channel bias would not be).
  LayoutRule layout_rule() const override { return LayoutRule::kShared; }
  void forward(Backend& be, Graph& g) override {
    const Shape s = g.shape(outputs[0]);
    float* y = g.value(outputs[0]);
    be.copy(y, g.value(inputs[0]), s.numel());
    be.bias_act_forward(y, g.value(zero_bias_), s.n, int(s.row_size()), act_);
  }
  void backward(Backend& be, Graph& g) override {
    const size_t n = g.shape(outputs[0]).numel();
    float* dy = g.grad(outputs[0]);
    // act' from the output where it determines it, else from the input (swish, softplus,
    // gelu), which this node reads in backward: a future arena reuse must keep it alive.
    auto to = [&](float* dx) {
      if (act_grad_needs_input(act_))
        be.act_backward_from_input(dx, dy, g.value(inputs[0]), n, act_);
      else
        be.act_backward(dx, dy, g.value(outputs[0]), n, act_);
    };
    if (input_grad_accumulates[0]) {
      to(dy);  // dy is ours to change now
      be.axpy(g.grad(inputs[0]), dy, n, 1.0f);
    } else {
      to(g.grad(inputs[0]));
    }
  }

 private:
  Activation act_;
  Var zero_bias_;
};

class AddNode final : public Node {
 public:
  AddNode(Var a, Var b, Var y) {
    inputs = {a, b};
    outputs = {y};
  }
  const char* kind() const override { return "add"; }
  LayoutRule layout_rule() const override { return LayoutRule::kShared; }  // element-wise
  void forward(Backend& be, Graph& g) override {
    const size_t n = g.shape(outputs[0]).numel();
    be.copy(g.value(outputs[0]), g.value(inputs[0]), n);
    be.axpy(g.value(outputs[0]), g.value(inputs[1]), n, 1.0f);
  }
  void backward(Backend& be, Graph& g) override {
    const size_t n = g.shape(outputs[0]).numel();
    for (size_t i = 0; i < 2; ++i)
      if (input_needs_grad[i]) write_grad(be, g.grad(inputs[i]), g.grad(outputs[0]), n, input_grad_accumulates[i]);
  }
};

class ScaleNode final : public Node {
 public:
  ScaleNode(Var x, Var y, float alpha) : alpha_(alpha) {
    inputs = {x};
    outputs = {y};
  }
  const char* kind() const override { return "scale"; }
  LayoutRule layout_rule() const override { return LayoutRule::kShared; }  // element-wise
  void forward(Backend& be, Graph& g) override {
    const size_t n = g.shape(outputs[0]).numel();
    be.copy(g.value(outputs[0]), g.value(inputs[0]), n);
    be.scale(g.value(outputs[0]), n, alpha_);
  }
  void backward(Backend& be, Graph& g) override {
    const size_t n = g.shape(outputs[0]).numel();
    float* dx = g.grad(inputs[0]);
    if (input_grad_accumulates[0]) {
      be.axpy(dx, g.grad(outputs[0]), n, alpha_);
    } else {
      be.copy(dx, g.grad(outputs[0]), n);
      be.scale(dx, n, alpha_);
    }
  }

 private:
  float alpha_;
};

// y = f * x with f a device scalar read when the node runs: a weight that a schedule
// changes from step to step, while the recorded graph (and a captured step) stays the same.
class ScaleByNode final : public Node {
 public:
  ScaleByNode(Var x, Var y, const float* const* factor) : factor_(factor) {
    inputs = {x};
    outputs = {y};
  }
  const char* kind() const override { return "scale_by"; }
  void reserve(Graph& g) override {
    if (input_needs_grad[0] && input_grad_accumulates[0]) scratch_ = g.constant(g.shape(inputs[0]));
  }
  void forward(Backend& be, Graph& g) override {
    be.fill_weight(g.value(outputs[0]), g.shape(outputs[0]).numel(), times(g.value(inputs[0])));
  }
  void backward(Backend& be, Graph& g) override {
    if (!input_needs_grad[0]) return;
    const size_t n = g.shape(outputs[0]).numel();
    const bool add = input_grad_accumulates[0];
    float* dx = add ? g.value(scratch_) : g.grad(inputs[0]);
    be.fill_weight(dx, n, times(g.grad(outputs[0])));
    if (add) be.axpy(g.grad(inputs[0]), dx, n, 1.0f);
  }

 private:
  // f * v[i] for every i, as the Weight that fill_weight writes (f = 1 while unset).
  Weight times(const float* v) const {
    Weight w(1.0f, *factor_);
    w.per_row = v;
    return w;
  }
  const float* const* factor_;
  Var scratch_;
};

// y = x, and no gradient flows back through it (a logged term computed from trained tensors).
class DetachNode final : public Node {
 public:
  DetachNode(Var x, Var y) {
    inputs = {x};
    outputs = {y};
    observes_only = true;
  }
  const char* kind() const override { return "detach"; }
  LayoutRule layout_rule() const override { return LayoutRule::kShared; }  // a copy
  void forward(Backend& be, Graph& g) override {
    be.copy(g.value(outputs[0]), g.value(inputs[0]), g.shape(outputs[0]).numel());
  }
};

// Copies column blocks between row-major matrices (one strided-copy op).
void copy_block(Backend& be, float* dst, int dst_cols, int dst_col0, const float* src, int src_cols, int src_col0,
                int rows, int cols, bool accumulate) {
  be.copy_columns(dst + dst_col0, size_t(dst_cols), src + src_col0, size_t(src_cols), rows, size_t(cols), accumulate);
}

class ColumnsNode final : public Node {
 public:
  ColumnsNode(Var x, Var y, int begin, int count) : begin_(begin), count_(count) {
    inputs = {x};
    outputs = {y};
  }
  const char* kind() const override { return "columns"; }
  void forward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    copy_block(be, g.value(outputs[0]), count_, 0, g.value(inputs[0]), int(s.row_size()), begin_, s.n, count_, false);
  }
  void backward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    float* dx = g.grad(inputs[0]);
    if (!input_grad_accumulates[0]) be.fill(dx, s.numel(), 0.0f);  // the other columns get no gradient from here
    copy_block(be, dx, int(s.row_size()), begin_, g.grad(outputs[0]), count_, 0, s.n, count_, true);
  }

 private:
  int begin_, count_;
};

// Each row (sample) of y is a's row followed by b's: concatenation along features, or
// along channels of NCHW images (whose channels are contiguous blocks of a sample).
class ConcatNode final : public Node {
 public:
  ConcatNode(Var a, Var b, Var y) {
    inputs = {a, b};
    outputs = {y};
  }
  const char* kind() const override { return "concat"; }
  // Either layout: an image's channels [0, c) of a blocked map with c divisible by the
  // block are its first c*h*w floats, as in NCHW.
  LayoutRule layout_rule() const override { return LayoutRule::kShared; }
  void forward(Backend& be, Graph& g) override {
    const int rows = g.shape(outputs[0]).n, ca = cols(g, 0), cb = cols(g, 1);
    copy_block(be, g.value(outputs[0]), ca + cb, 0, g.value(inputs[0]), ca, 0, rows, ca, false);
    copy_block(be, g.value(outputs[0]), ca + cb, ca, g.value(inputs[1]), cb, 0, rows, cb, false);
  }
  void backward(Backend& be, Graph& g) override {
    const int rows = g.shape(outputs[0]).n, ca = cols(g, 0), cb = cols(g, 1);
    if (input_needs_grad[0])
      copy_block(be, g.grad(inputs[0]), ca, 0, g.grad(outputs[0]), ca + cb, 0, rows, ca, input_grad_accumulates[0]);
    if (input_needs_grad[1])
      copy_block(be, g.grad(inputs[1]), cb, 0, g.grad(outputs[0]), ca + cb, ca, rows, cb, input_grad_accumulates[1]);
  }

 private:
  int cols(Graph& g, size_t i) const { return int(g.shape(inputs[i]).row_size()); }
};

class RepeatRowsNode final : public Node {
 public:
  RepeatRowsNode(Var x, Var y, int times) : times_(times) {
    inputs = {x};
    outputs = {y};
  }
  const char* kind() const override { return "repeat_rows"; }
  // Either layout: an image is one contiguous row of c*h*w floats in both.
  LayoutRule layout_rule() const override { return LayoutRule::kShared; }
  void forward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    be.repeat_rows(g.value(outputs[0]), g.value(inputs[0]), s.n, int(s.row_size()), times_);
  }
  void backward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    const size_t d = s.row_size();
    float* dx = g.grad(inputs[0]);
    if (!input_grad_accumulates[0]) be.fill(dx, s.numel(), 0.0f);
    const float* dy = g.grad(outputs[0]);
    for (int r = 0; r < s.n; ++r)
      for (int t = 0; t < times_; ++t) be.axpy(dx + size_t(r) * d, dy + (size_t(r) * times_ + t) * d, d, 1.0f);
  }

 private:
  int times_;
};

}  // namespace

Var parameter(Graph& g, int slice, Shape shape) {
  const ParamSlice& s = g.params().slice(slice);
  ELBO_CHECK(s.size == shape.numel(), "parameter tensor " << s.name << ": " << s.size << " values, shape "
                                                          << shape.str() << " needs " << shape.numel());
  Var y = g.tensor(shape);
  g.add<ParameterNode>(y, slice);
  return y;
}

Var activation(Graph& g, Var x, Activation act) {
  const Shape s = g.shape(x);
  Var zero_bias = g.constant(Shape::rows(1, int(s.row_size())));  // the arena starts zeroed
  Var y = g.tensor(s);
  g.add<ActivationNode>(x, y, zero_bias, act);
  return y;
}

Var add(Graph& g, Var a, Var b) {
  ELBO_CHECK(g.shape(a) == g.shape(b), "add: shapes " << g.shape(a).str() << " and " << g.shape(b).str() << " differ");
  Var y = g.tensor(g.shape(a));
  g.add<AddNode>(a, b, y);
  return y;
}

Var columns(Graph& g, Var x, int begin, int count) {
  const Shape s = g.shape(x);
  ELBO_CHECK(begin >= 0 && count > 0 && size_t(begin + count) <= s.row_size(),
             "columns [" << begin << ", " << begin + count << ") of rows holding " << s.row_size() << " values");
  Var y = g.tensor(Shape::rows(s.n, count));
  g.add<ColumnsNode>(x, y, begin, count);
  return y;
}

Var concat_columns(Graph& g, Var a, Var b) {
  const Shape sa = g.shape(a), sb = g.shape(b);
  ELBO_CHECK(sa.n == sb.n, "concat_columns: " << sa.n << " rows and " << sb.n << " rows");
  Var y = g.tensor(Shape::rows(sa.n, int(sa.row_size() + sb.row_size())));
  g.add<ConcatNode>(a, b, y);
  return y;
}

Var scale(Graph& g, Var x, float alpha) {
  Var y = g.tensor(g.shape(x));
  g.add<ScaleNode>(x, y, alpha);
  return y;
}

Var scale_by(Graph& g, Var x, const float* const* factor) {
  ELBO_CHECK(factor, "scale_by: no factor to read");
  Var y = g.tensor(g.shape(x));
  g.add<ScaleByNode>(x, y, factor);
  return y;
}

Var detach(Graph& g, Var x) {
  Var y = g.tensor(g.shape(x));
  g.add<DetachNode>(x, y);
  return y;
}

Var concat_channels(Graph& g, Var a, Var b) {
  const Shape sa = g.shape(a), sb = g.shape(b);
  ELBO_CHECK(sa.n == sb.n && sa.h == sb.h && sa.w == sb.w,
             "concat_channels: " << sa.str() << " and " << sb.str() << " differ in samples or spatial size");
  Var y = g.tensor(Shape::images(sa.n, sa.c + sb.c, sa.h, sa.w));
  g.add<ConcatNode>(a, b, y);
  return y;
}

Var repeat_rows(Graph& g, Var x, int times) {
  Shape s = g.shape(x);
  ELBO_CHECK(times >= 1, "repeat_rows: times = " << times);
  s.n *= times;
  Var y = g.tensor(s);
  g.add<RepeatRowsNode>(x, y, times);
  return y;
}

}  // namespace elbo
