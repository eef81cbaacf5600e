// Finite-difference checks of recorded graphs (the harness of test_graph.cc, shared by
// the layer tests): the graph's leaves are learned tensors, so every input gradient is a
// parameter gradient that central differences can check, and every parameter of the
// store (layer weights included) is set to random values first.
#pragma once
#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/nn/distributions.h"
#include "elbo/nn/graph.h"
#include "elbo/nn/layers.h"
#include "support/gradient_check.h"

namespace elbo {

class GraphCheck {
 public:
  explicit GraphCheck(uint32_t seed, int threads = 1) : be_(make_cpu_backend(threads)), seed_(seed) {}

  // Registers leaves of the given shapes, sets every parameter to values in
  // [-range, range), records the graph with `build` (given the leaf tensors) and checks
  // every gradient of the loss sum_seeds weight * sum_rows term.
  void run(const std::vector<Shape>& leaf_shapes,
           const std::function<std::vector<LossSeed>(Graph&, const std::vector<Var>&)>& build, const char* what,
           float range = 1.5f) {
    std::vector<int> slices;
    for (size_t i = 0; i < leaf_shapes.size(); ++i)
      slices.push_back(store_.add("leaf" + std::to_string(i), {int64_t(leaf_shapes[i].numel())}, 1));
    store_.allocate(*be_, seed_);
    std::vector<float> values = random_vector(store_.total(), seed_ + 1, -range, range);
    Graph g(*be_, store_);
    std::vector<Var> leaves;
    for (size_t i = 0; i < leaf_shapes.size(); ++i) leaves.push_back(parameter(g, slices[i], leaf_shapes[i]));
    const std::vector<LossSeed> seeds = build(g, leaves);
    g.plan(true);
    auto loss = [&] {
      std::copy(values.begin(), values.end(), store_.params());
      g.forward();
      double s = 0;
      for (const LossSeed& seed : seeds) s += double(seed.weight.value) * sum_of(g.value(seed.term), g.shape(seed.term).n);
      return s;
    };
    loss();
    be_->fill(store_.grads(), store_.total(), 0.0f);
    g.backward(seeds);
    std::vector<float> grads(store_.grads(), store_.grads() + store_.total());
    expect_gradient(values, grads, loss, what);
  }

  Backend& backend() { return *be_; }
  ParamStore& store() { return store_; }

 private:
  std::unique_ptr<Backend> be_;
  uint32_t seed_;
  ParamStore store_;
};

// A smooth loss of any tensor: the Bernoulli NLL of its values as logits against fixed
// random targets, so every element carries a distinct gradient.
inline LossSeed probe(Graph& g, Var y, std::vector<float>& targets, uint32_t seed, float weight = 1.0f) {
  const Shape s = g.shape(y);
  targets = random_vector(s.numel(), seed, 0, 1);
  Var t = g.input("targets", Shape::rows(s.n, int(s.row_size())));
  g.bind(t, targets.data());
  return {bernoulli_nll(g, y, t), Weight(weight)};
}

}  // namespace elbo
