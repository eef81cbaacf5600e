// The graph (nn/graph.h): a finite-difference gradient check of every node with a
// backward, gradients that add up where a tensor has several readers, the reducer's
// "gradients final from offset" signal derived from the graph, forward-only graphs, and
// recording mistakes that must be errors, and recomputation segments.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/error.h"
#include "elbo/nn/distributions.h"
#include "elbo/nn/conv2d.h"
#include "elbo/nn/graph.h"
#include "elbo/nn/layers.h"
#include "elbo/nn/linear.h"
#include "support/gradient_check.h"
#include "support/graph_check.h"

namespace elbo {
namespace {

class ActivationCheck : public ::testing::TestWithParam<Activation> {};

TEST_P(ActivationCheck, ElementWiseOnImages) {
  GraphCheck c(3);
  std::vector<float> t;
  c.run({Shape::images(2, 2, 3, 3)},
        [&](Graph& g, const std::vector<Var>& x) {
          return std::vector<LossSeed>{probe(g, activation(g, x[0], GetParam()), t, 4)};
        },
        "activation");
}

std::string activation_name(const ::testing::TestParamInfo<Activation>& info) {
  static const char* const names[] = {"identity", "relu", "tanh", "sigmoid", "leaky_relu", "elu"};
  return names[int(info.param)];
}

INSTANTIATE_TEST_SUITE_P(Graph, ActivationCheck,
                         ::testing::Values(Activation::kIdentity, Activation::kTanh, Activation::kSigmoid,
                                           Activation::kELU, Activation::kLeakyReLU),
                         activation_name);

TEST(GraphGradCheck, AddColumnsConcatAndRepeat) {
  GraphCheck c(5);
  std::vector<float> t;
  c.run({Shape::rows(3, 4), Shape::rows(3, 4), Shape::rows(3, 2)},
        [&](Graph& g, const std::vector<Var>& x) {
          Var sum = add(g, x[0], x[1]);
          Var mixed = concat_columns(g, columns(g, sum, 1, 2), x[2]);  // 3 x 4
          return std::vector<LossSeed>{probe(g, repeat_rows(g, mixed, 3), t, 6)};
        },
        "add, columns, concat_columns, repeat_rows");
}

// Views share values and gradients with their base: dense -> image -> dense.
TEST(GraphGradCheck, ViewsBetweenDenseAndImageShapes) {
  GraphCheck c(15);
  ParamStore& store = c.store();
  Linear fc(store, "fc", 4, 2 * 2 * 3, Activation::kTanh);
  std::vector<float> t;
  c.run({Shape::rows(3, 4)},
        [&](Graph& g, const std::vector<Var>& x) {
          Var image = g.view(fc(g, x[0]), Shape::images(3, 3, 2, 2));
          Var act = activation(g, image, Activation::kELU);
          return std::vector<LossSeed>{probe(g, g.view(act, Shape::rows(3, 12)), t, 16)};
        },
        "view");
}

class ConvLayerCheck : public ::testing::TestWithParam<Activation> {};

// Conv2d (stride 2 and 1) and ConvTranspose2d, each reading a learned input, with fused
// activations; the transposed conv runs twice on the same input, so its accumulating
// input path runs and its weight gradient sums two uses.
TEST_P(ConvLayerCheck, ConvAndTransposedConv) {
  GraphCheck c(17);
  ParamStore& store = c.store();
  Conv2d down(store, "down", 2, 3, 4, 2, 1, GetParam());
  Conv2d same(store, "same", 3, 3, 3, 1, 1, GetParam());
  ConvTranspose2d up(store, "up", 3, 2, 4, 2, 1, GetParam());
  std::vector<float> t;
  c.run({Shape::images(2, 2, 6, 6)},
        [&](Graph& g, const std::vector<Var>& x) {
          Var h = same(g, down(g, x[0]));  // (2, 3, 3, 3)
          Var y = add(g, up(g, h), up(g, h));  // h and up's weight read twice: gradients add up
          return std::vector<LossSeed>{probe(g, y, t, 18)};
        },
        "conv2d, conv_transpose2d", 0.5f);
}

INSTANTIATE_TEST_SUITE_P(Graph, ConvLayerCheck, ::testing::Values(Activation::kIdentity, Activation::kTanh),
                         activation_name);

// A tensor read by three nodes (a residual block's shape): its gradient is the sum.
TEST(GraphGradCheck, ATensorUsedThreeTimesGetsTheSumOfItsGradients) {
  GraphCheck c(7);
  ParamStore& store = c.store();
  Linear fc(store, "fc", 4, 4, Activation::kTanh);
  std::vector<float> t;
  c.run({Shape::rows(3, 4)},
        [&](Graph& g, const std::vector<Var>& x) {
          Var h = fc(g, x[0]);
          Var residual = add(g, x[0], h);
          Var twice = add(g, residual, x[0]);
          return std::vector<LossSeed>{probe(g, twice, t, 8)};
        },
        "residual: x + fc(x) + x");
}

TEST(GraphGradCheck, StochasticLayerAndLikelihoods) {
  GraphCheck c(9);
  NoiseKey key{42, 1, 100, 0};
  std::vector<float> xb, xg;
  c.run({Shape::rows(3, 2 * 4), Shape::rows(3, 2 * 5)},
        [&](Graph& g, const std::vector<Var>& leaves) {
          GaussianSample s = gaussian_sample(g, leaves[0], &key);
          Var kl = kl_std_normal(g, leaves[0]);  // stats read twice: sample and KL
          LossSeed through_z = probe(g, s.z, xb, 10, 0.5f);
          xg = random_vector(15, 11, 0, 1);
          Var data = g.input("x", Shape::rows(3, 5));
          g.bind(data, xg.data());
          return std::vector<LossSeed>{through_z, {kl, Weight(0.7f)}, {gaussian_nll(g, leaves[1], data), Weight(0.3f)}};
        },
        "gaussian_sample, kl_std_normal, bernoulli_nll, gaussian_nll");
}

// A likelihood whose logits also feed another reader: the likelihood's gradient is added
// through its scratch tensor rather than overwriting the other reader's.
TEST(GraphGradCheck, LikelihoodAddsToAnInputReadTwice) {
  GraphCheck c(12);
  std::vector<float> t1, t2;
  c.run({Shape::rows(2, 6)},
        [&](Graph& g, const std::vector<Var>& x) {
          LossSeed a = probe(g, x[0], t1, 13, 1.0f);
          LossSeed b = probe(g, activation(g, x[0], Activation::kTanh), t2, 14, 2.0f);
          return std::vector<LossSeed>{a, b};
        },
        "likelihood after another reader");
}

// The reducer's signal: gradients become final from the end of the flat buffer towards
// its start, each offset reported once, ending at 0, and only after the last node that
// writes those gradients.
TEST(GraphReadySignal, FollowsTheGraphNotTheRegistrationOrder) {
  auto be = make_cpu_backend();
  ParamStore store;
  Linear first(store, "first", 3, 4, Activation::kTanh), second(store, "second", 4, 2);
  store.allocate(*be, 1);
  Graph g(*be, store);
  Var x = g.input("x", Shape::rows(2, 3));
  std::vector<float> xv = random_vector(6, 2), tv = random_vector(4, 3, 0, 1);
  Var t = g.input("t", Shape::rows(2, 2));
  Var loss = bernoulli_nll(g, second(g, first(g, x)), t);
  g.plan(true);
  g.bind(x, xv.data());
  g.bind(t, tv.data());
  g.forward();
  std::vector<size_t> reported;
  g.backward({{loss, Weight(1.0f)}}, [&](size_t offset) { reported.push_back(offset); });
  // "second" is registered last (highest offsets) and runs first in backward.
  ASSERT_EQ(reported.size(), 2u);
  EXPECT_EQ(reported[0], store.slice(2).offset);  // second.weight
  EXPECT_EQ(reported[1], 0u);
}

TEST(GraphReadySignal, ASharedLayerIsFinalOnlyAfterItsLastUse) {
  auto be = make_cpu_backend();
  ParamStore store;
  Linear shared(store, "shared", 3, 3, Activation::kTanh), head(store, "head", 3, 3);
  store.allocate(*be, 1);
  Graph g(*be, store);
  Var x = g.input("x", Shape::rows(2, 3));
  Var t = g.input("t", Shape::rows(2, 3));
  std::vector<float> xv = random_vector(6, 2), tv = random_vector(6, 3, 0, 1);
  Var loss = bernoulli_nll(g, shared(g, head(g, shared(g, x))), t);  // shared, head, shared again
  g.plan(true);
  g.bind(x, xv.data());
  g.bind(t, tv.data());
  g.forward();
  std::vector<size_t> reported;
  g.backward({{loss, Weight(1.0f)}}, [&](size_t offset) { reported.push_back(offset); });
  // head (highest offsets) is final after its one use; shared only after the first-recorded use.
  ASSERT_EQ(reported.size(), 2u);
  EXPECT_EQ(reported[0], store.slice(2).offset);
  EXPECT_EQ(reported[1], 0u);
}

TEST(GraphPlan, ForwardOnlyGraphsHaveNoGradientsAndRefuseBackward) {
  auto be = make_cpu_backend();
  ParamStore store;
  Linear fc(store, "fc", 3, 2);
  store.allocate(*be, 1);
  Graph g(*be, store);
  Var x = g.input("x", Shape::rows(4, 3));
  Var y = fc(g, x);
  g.plan(false);
  std::vector<float> xv = random_vector(12, 2);
  g.bind(x, xv.data());
  g.forward();
  EXPECT_EQ(g.grad(y), nullptr);
  EXPECT_EQ(g.arena_floats(), 8u);  // values only
  EXPECT_THROW(g.backward({}), Error);
}

// Recomputation segments: three residual blocks h + 0.5 tanh(fc(h)), each a segment. The
// segments' insides share one pool (a smaller arena), backward recomputes them, and the
// loss and every gradient are the same bits as without segments; a finite-difference
// check of the segmented graph; segments cannot nest or stay open.
TEST(GraphRecompute, SegmentsGiveTheSameBitsInLessMemory) {
  auto be = make_cpu_backend();
  ParamStore store;
  std::vector<Linear> fcs;
  for (int i = 0; i < 3; ++i) fcs.emplace_back(store, "fc" + std::to_string(i), 6, 6);
  const int leaf = store.add("x", {24}, 1);
  store.allocate(*be, 3);
  const std::vector<float> params = random_vector(store.total(), 4, -1, 1);
  std::vector<float> targets;
  struct Run {
    std::vector<float> loss, grads;
    size_t arena;
  };
  auto run = [&](bool segments) {
    std::copy(params.begin(), params.end(), store.params());
    Graph g(*be, store);
    Var h = parameter(g, leaf, Shape::rows(4, 6));
    for (const Linear& fc : fcs) {
      if (segments) g.begin_recompute();
      h = add(g, h, scale(g, activation(g, fc(g, h), Activation::kTanh), 0.5f));
      if (segments) g.end_recompute();
    }
    const LossSeed seed = probe(g, h, targets, 5);
    g.plan(true);
    g.forward();
    be->fill(store.grads(), store.total(), 0.0f);
    g.backward({seed});
    Run r;
    r.loss.assign(g.value(seed.term), g.value(seed.term) + 4);
    r.grads.assign(store.grads(), store.grads() + store.total());
    r.arena = g.arena_floats();
    return r;
  };
  const Run plain = run(false), recomputed = run(true);
  EXPECT_EQ(recomputed.loss, plain.loss);
  EXPECT_EQ(recomputed.grads, plain.grads);
  // Each block keeps h (24 values) and pools fc's output, tanh and the scale (72 values
  // and their gradients) with the other blocks': 2 x 2 x 72 values fewer.
  EXPECT_EQ(plain.arena - recomputed.arena, 2u * 2u * 72u);

  GraphCheck check(6);
  check.run({Shape::rows(3, 4)},
            [&](Graph& g, const std::vector<Var>& leaf_vars) {
              Var h = leaf_vars[0];
              for (int i = 0; i < 2; ++i) {
                g.begin_recompute();
                h = add(g, h, activation(g, scale(g, h, 0.7f), Activation::kSwish));
                g.end_recompute();
              }
              return std::vector<LossSeed>{probe(g, h, targets, 7)};
            },
            "recomputed segments");

  Graph g(*be, store);
  g.begin_recompute();
  EXPECT_THROW(g.begin_recompute(), Error);
  EXPECT_THROW(g.plan(true), Error);  // still open
}

TEST(GraphPlan, RecordingMistakesAreErrors) {
  auto be = make_cpu_backend();
  ParamStore store;
  Linear fc(store, "fc", 3, 2);
  store.allocate(*be, 1);
  Graph g(*be, store);
  Var x = g.input("x", Shape::rows(4, 5));
  EXPECT_THROW(fc(g, x), Error);  // 5 values per row, the layer takes 3
  Var a = g.input("a", Shape::rows(4, 3));
  EXPECT_THROW(add(g, a, x), Error);
  EXPECT_THROW(columns(g, a, 2, 2), Error);
  Var y = fc(g, a);
  g.plan(true);
  EXPECT_THROW(g.forward(), Error);  // input not bound
  EXPECT_THROW(fc(g, y), Error);     // recording after plan
}

}  // namespace
}  // namespace elbo
