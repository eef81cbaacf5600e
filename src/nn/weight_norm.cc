#include "elbo/nn/weight_norm.h"

#include "elbo/error.h"

namespace elbo {
namespace {

class WeightNormNode final : public Node {
 public:
  WeightNormNode(Var w, Var norms, int v, int g, int rows, int cols)
      : norms_(norms), v_(v), g_(g), rows_(rows), cols_(cols) {
    outputs = {w};
    param_slices = {v, g};
  }
  const char* kind() const override { return "weight_norm"; }
  void forward(Backend& be, Graph& g) override {
    ParamStore& ps = g.params();
    be.weight_norm_forward(g.value(outputs[0]), g.value(norms_), ps.param(v_), ps.param(g_), rows_, cols_);
  }
  void backward(Backend& be, Graph& g) override {
    ParamStore& ps = g.params();
    be.weight_norm_backward(ps.grad(v_), ps.grad(g_), g.grad(outputs[0]), ps.param(v_), ps.param(g_), g.value(norms_),
                            rows_, cols_);
  }

 private:
  Var norms_;  // ||v|| per row, kept from forward for backward
  int v_, g_, rows_, cols_;
};

}  // namespace

WeightSlices add_weight(ParamStore& store, const std::string& name, const std::vector<int64_t>& shape, int64_t fan_in,
                        const WeightOptions& options) {
  WeightSlices s;
  if (!options.weight_norm) {
    s.w = store.add(name + ".weight", shape, fan_in, ParamInit::uniform(options.init_scale));
    return s;
  }
  std::vector<int64_t> g_shape(shape.size(), 1);  // torch: norms over every dimension but the first
  g_shape[0] = shape[0];
  s.w = store.add(name + ".weight_v", shape, fan_in);
  s.g = store.add(name + ".weight_g", g_shape, fan_in, ParamInit::row_norms(s.w, options.init_scale));
  return s;
}

Var weight_norm(Graph& g, int v_slice, int g_slice, int rows, int cols) {
  ELBO_CHECK(g.params().slice(v_slice).size == size_t(rows) * size_t(cols) &&
                 g.params().slice(g_slice).size == size_t(rows),
             "weight_norm: slices " << g.params().slice(v_slice).name << " and " << g.params().slice(g_slice).name
                                    << " do not hold a " << rows << " x " << cols << " weight and its norms");
  Var w = g.tensor(Shape::rows(rows, cols));
  Var norms = g.constant(Shape::rows(rows, 1));
  g.add<WeightNormNode>(w, norms, v_slice, g_slice, rows, cols);
  return w;
}

}  // namespace elbo
