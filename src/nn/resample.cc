#include "elbo/nn/resample.h"

#include "elbo/error.h"

namespace elbo {
namespace {

// The planes and pixel width of a map in its layout (Graph::channel_block): n * c planes
// of 1-float pixels when plain, n * c / b planes of b-float pixels when blocked.
struct Planes {
  int planes, lanes;
};
Planes planes_of(const Graph& g, Var v) {
  const Shape s = g.shape(v);
  const int b = g.channel_block(v);
  return {s.n * (s.c / b), b};
}

// Both nodes in terms of the small side (h x w) of the 2x pair of planes; input and
// output share a layout (LayoutRule::kShared).
class Upsample2xNode final : public Node {
 public:
  Upsample2xNode(Var x, Var y) {
    inputs = {x};
    outputs = {y};
  }
  const char* kind() const override { return "upsample2x"; }
  LayoutRule layout_rule() const override { return LayoutRule::kShared; }
  void forward(Backend& be, Graph& g) override {
    const Shape s = g.shape(inputs[0]);
    const Planes p = planes_of(g, inputs[0]);
    be.upsample2x(g.value(outputs[0]), g.value(inputs[0]), p.planes, s.h, s.w, p.lanes, 1.0f, false);
  }
  void backward(Backend& be, Graph& g) override {  // each pixel gets the sum of its 4 copies' gradients
    const Shape s = g.shape(inputs[0]);
    const Planes p = planes_of(g, inputs[0]);
    be.sum_pool2x(g.grad(inputs[0]), g.grad(outputs[0]), p.planes, s.h, s.w, p.lanes, 1.0f,
                  input_grad_accumulates[0]);
  }
};

class AvgPool2xNode final : public Node {
 public:
  AvgPool2xNode(Var x, Var y) {
    inputs = {x};
    outputs = {y};
  }
  const char* kind() const override { return "avg_pool2x"; }
  LayoutRule layout_rule() const override { return LayoutRule::kShared; }
  void forward(Backend& be, Graph& g) override {
    const Shape s = g.shape(outputs[0]);
    const Planes p = planes_of(g, outputs[0]);
    be.sum_pool2x(g.value(outputs[0]), g.value(inputs[0]), p.planes, s.h, s.w, p.lanes, 0.25f, false);
  }
  void backward(Backend& be, Graph& g) override {  // each of the 4 pixels gets a quarter
    const Shape s = g.shape(outputs[0]);
    const Planes p = planes_of(g, outputs[0]);
    be.upsample2x(g.grad(inputs[0]), g.grad(outputs[0]), p.planes, s.h, s.w, p.lanes, 0.25f,
                  input_grad_accumulates[0]);
  }
};

}  // namespace

Var upsample2x(Graph& g, Var x) {
  const Shape s = g.shape(x);
  Var y = g.tensor(Shape::images(s.n, s.c, 2 * s.h, 2 * s.w));
  g.add<Upsample2xNode>(x, y);
  return y;
}

Var avg_pool2x(Graph& g, Var x) {
  const Shape s = g.shape(x);
  ELBO_CHECK(s.h % 2 == 0 && s.w % 2 == 0, "avg_pool2x: input " << s.str() << " has an odd height or width");
  Var y = g.tensor(Shape::images(s.n, s.c, s.h / 2, s.w / 2));
  g.add<AvgPool2xNode>(x, y);
  return y;
}

}  // namespace elbo
