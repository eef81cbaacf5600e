// The layers of hierarchical models (swish/softplus/gelu, scale, concat_channels,
// upsample/pool, group norm, weight norm, embedding, the residual cell): a
// finite-difference check of each, with a tensor read twice wherever a layer has an
// input gradient (so both the assigning and the accumulating path of its backward run);
// their initialisation; and their CPU ops' results, bitwise the same on 1, 2 and 3 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/error.h"
#include "elbo/nn/conv2d.h"
#include "elbo/nn/embedding.h"
#include "elbo/nn/layers.h"
#include "elbo/nn/linear.h"
#include "elbo/nn/norm.h"
#include "elbo/nn/resample.h"
#include "elbo/nn/residual.h"
#include "elbo/nn/weight_norm.h"
#include "support/graph_check.h"

namespace elbo {
namespace {

using Seeds = std::vector<LossSeed>;

class InputActivation : public ::testing::TestWithParam<Activation> {};

std::string name_of(const ::testing::TestParamInfo<Activation>& info) {
  switch (info.param) {
    case Activation::kSwish: return "swish";
    case Activation::kSoftplus: return "softplus";
    default: return "gelu";
  }
}

// act'(x) against central differences of act(x) in double, over a dense sweep that
// includes the region where swish and gelu are not monotone.
TEST_P(InputActivation, DerivativeFromTheInputMatchesTheFunction) {
  const Activation a = GetParam();
  EXPECT_TRUE(act_grad_needs_input(a));
  for (float x = -12.0f; x <= 12.0f; x += 0.037f) {
    const float h = 1e-3f;
    const double numeric = (double(act_forward(a, x + h)) - double(act_forward(a, x - h))) / (2.0 * h);
    EXPECT_NEAR(act_grad_from_input(a, x), numeric, 2e-3) << "x = " << x;
  }
}

// The activation node assigning (x0 read once) and accumulating (x1 also read by add).
TEST_P(InputActivation, ActivationNodeAssignsAndAccumulates) {
  GraphCheck c(21);
  std::vector<float> t1, t2;
  c.run({Shape::images(2, 2, 3, 3), Shape::rows(3, 5)},
        [&](Graph& g, const std::vector<Var>& x) {
          return Seeds{probe(g, activation(g, x[0], GetParam()), t1, 22),
                       probe(g, add(g, activation(g, x[1], GetParam()), x[1]), t2, 23)};
        },
        "activation from the input", 3.0f);
}

// Fused into Linear, Conv2d and ConvTranspose2d, where the layer records the activation
// as its own node; the input of each layer is read twice.
TEST_P(InputActivation, FusedIntoLinearAndConvLayers) {
  GraphCheck c(24);
  Linear fc(c.store(), "fc", 4, 3, GetParam());
  Conv2d conv(c.store(), "conv", 2, 3, 3, 1, 1, GetParam());
  ConvTranspose2d up(c.store(), "up", 2, 2, 4, 2, 1, GetParam());
  std::vector<float> t1, t2, t3;
  c.run({Shape::rows(3, 4), Shape::images(2, 2, 3, 3)},
        [&](Graph& g, const std::vector<Var>& x) {
          Var h = add(g, fc(g, x[0]), fc(g, x[0]));
          return Seeds{probe(g, h, t1, 25), probe(g, conv(g, x[1]), t2, 26), probe(g, add(g, up(g, x[1]), up(g, x[1])), t3, 27)};
        },
        "linear, conv2d, conv_transpose2d with an input-derivative activation", 0.8f);
}

INSTANTIATE_TEST_SUITE_P(Layers, InputActivation,
                         ::testing::Values(Activation::kSwish, Activation::kSoftplus, Activation::kGELU), name_of);

// The other activations' derivative from the input agrees with the one from the output.
TEST(ActivationMath, FromInputAgreesWithFromOutputForMonotoneActivations) {
  for (Activation a : {Activation::kReLU, Activation::kTanh, Activation::kSigmoid, Activation::kLeakyReLU,
                       Activation::kELU, Activation::kIdentity}) {
    EXPECT_FALSE(act_grad_needs_input(a));
    for (float x = -6.0f; x <= 6.0f; x += 0.173f)
      EXPECT_NEAR(act_grad_from_input(a, x), act_grad_from_output(a, act_forward(a, x)), 1e-5) << int(a) << " " << x;
  }
}

TEST(LayersGradCheck, ScaleConcatChannelsAndAdd) {
  GraphCheck c(31);
  std::vector<float> t1, t2, t3;
  c.run({Shape::images(2, 2, 3, 3), Shape::images(2, 3, 3, 3), Shape::rows(2, 4), Shape::rows(2, 3)},
        [&](Graph& g, const std::vector<Var>& x) {
          Var images = concat_channels(g, x[0], scale(g, x[1], -0.7f));  // (2, 5, 3, 3)
          Var again = concat_channels(g, x[1], x[0]);                    // both read a second time
          Var rows = concat_channels(g, x[2], add(g, x[3], scale(g, x[3], 2.5f)));
          EXPECT_EQ(g.shape(images), Shape::images(2, 5, 3, 3));
          EXPECT_EQ(g.shape(rows), Shape::rows(2, 7));
          return Seeds{probe(g, images, t1, 32), probe(g, again, t2, 33, 0.5f), probe(g, rows, t3, 34)};
        },
        "scale, concat_channels, add");
}

// scale_by reads its factor from memory at every forward and backward (the IWAE warm-up's
// weight, changed between steps without recording the graph again); x[0] is read twice so
// both its assigning and accumulating backward run.
TEST(LayersGradCheck, ScaleByADeviceScalar) {
  GraphCheck c(35);
  float factor_value = 0.35f;
  const float* factor = &factor_value;
  std::vector<float> t1, t2, t3;
  c.run({Shape::rows(3, 4), Shape::images(2, 2, 2, 2)},
        [&](Graph& g, const std::vector<Var>& x) {
          Var twice = add(g, scale_by(g, x[0], &factor), x[0]);
          return Seeds{probe(g, twice, t1, 36), probe(g, scale_by(g, x[1], &factor), t2, 37),
                       probe(g, scale_by(g, x[0], &factor), t3, 38)};
        },
        "scale_by");
}

// detach passes values, never gradients: y = x + detach(x) is 2x, and its gradient into x
// is the direct path's alone.
TEST(LayersGradCheck, DetachPassesValuesNotGradients) {
  auto be = make_cpu_backend();
  ParamStore store;
  const int slice = store.add("x", {3}, 1);
  store.allocate(*be, 1);
  const float x0[3] = {0.5f, -1.0f, 2.0f};
  std::copy(x0, x0 + 3, store.params());
  Graph g(*be, store);
  Var x = parameter(g, slice, Shape::rows(3, 1));
  Var y = add(g, x, detach(g, x));
  g.plan(true);
  g.forward();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(g.value(y)[i], 2.0f * x0[i]);
  be->fill(store.grads(), store.total(), 0.0f);
  g.backward({{y, Weight(3.0f)}});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(store.grads()[i], 3.0f) << "element " << i;
}

// The factor is read when the node runs: changing it changes the next forward's output
// without recording again; a null factor is 1.
TEST(LayersGradCheck, ScaleByReadsItsFactorAtEachForward) {
  auto be = make_cpu_backend();
  ParamStore store;
  store.add("unused", {1}, 1);
  store.allocate(*be, 1);
  Graph g(*be, store);
  float value = 2.0f;
  const float* factor = &value;
  Var x = g.input("x", Shape::rows(1, 3));
  Var y = scale_by(g, x, &factor);
  g.plan(false);
  const float in[3] = {1.0f, -2.0f, 0.5f};
  g.bind(x, in);
  g.forward();
  EXPECT_EQ(g.value(y)[1], -4.0f);
  value = 0.25f;
  g.forward();
  EXPECT_EQ(g.value(y)[1], -0.5f);
  factor = nullptr;
  g.forward();
  EXPECT_EQ(g.value(y)[2], 0.5f);
}

TEST(LayersGradCheck, Upsample2xAndAvgPool2x) {
  GraphCheck c(41);
  std::vector<float> t1, t2, t3;
  c.run({Shape::images(2, 2, 2, 4)},
        [&](Graph& g, const std::vector<Var>& x) {
          Var up = upsample2x(g, x[0]);                          // (2, 2, 4, 8)
          Var down = avg_pool2x(g, up);                          // back to (2, 2, 2, 4): equals x
          Var residual = add(g, avg_pool2x(g, x[0]), avg_pool2x(g, down));  // x and down read twice
          EXPECT_EQ(g.shape(up), Shape::images(2, 2, 4, 8));
          EXPECT_EQ(g.shape(residual), Shape::images(2, 2, 1, 2));
          return Seeds{probe(g, up, t1, 42), probe(g, down, t2, 43), probe(g, residual, t3, 44)};
        },
        "upsample2x, avg_pool2x");
}

// ---- channel-blocked feature maps (nn/graph.h) ----

// A tower of the conv hvae's kinds of nodes whose inner maps have 16 channels: a stem conv,
// swish, a residual cell, average pooling, upsampling, a 1x1 side conv and a channel
// concatenation, then a head into 2 channels (read by the loss: plain).
struct BlockedTower {
  explicit BlockedTower(ParamStore& store)
      : stem(store, "stem", 2, 16, 3, 1, 1), cell(store, "cell", 16, ResidualCellOptions{}),
        side(store, "side", 16, 16, 1, 1, 0), head(store, "head", 32, 2, 3, 1, 1) {}
  struct Maps {
    Var stem, joined, out;
  };
  Maps operator()(Graph& g, Var x) const {
    Maps m;
    m.stem = stem(g, x);
    Var h = cell(g, activation(g, m.stem, Activation::kSwish));
    // side reads h before the pooling does: in backward, its backward data adds to h's
    // gradient (beta 1) after the pooling's wrote it.
    Var beside = side(g, h);
    Var up = upsample2x(g, avg_pool2x(g, h));
    m.joined = concat_channels(g, up, beside);
    m.out = head(g, m.joined);
    return m;
  }
  Conv2d stem;
  ResidualCell cell;
  Conv2d side, head;
};

TEST(LayersGradCheck, ChannelBlockedConvTower) {
  GraphCheck c(97);
  BlockedTower tower(c.store());
  std::vector<float> t1;
  c.run({Shape::images(3, 2, 6, 6)},
        [&](Graph& g, const std::vector<Var>& x) { return Seeds{probe(g, tower(g, x[0]).out, t1, 98)}; },
        "channel-blocked conv tower", 0.5f);
}

// The maps between the tower's convolutions are blocked where this CPU's oneDNN computes
// in a blocked layout, what leaves the tower is plain, and the values and every gradient
// are the bits of the same graph planned with plain maps only.
TEST(ChannelBlocks, BlockedMapsComputeThePlainGraphsBits) {
  auto be = make_cpu_backend(2);
  const int b = be->channel_block();
  if (b == 0) GTEST_SKIP() << "oneDNN chose no blocked layout for convolutions on this CPU";
  ParamStore store;
  BlockedTower tower(store);
  store.allocate(*be, 5);
  const std::vector<float> values = random_vector(store.total(), 6, -0.5f, 0.5f);
  std::copy(values.begin(), values.end(), store.params());
  const Shape image = Shape::images(20, 2, 8, 8);  // a chunk of 16 images and one of 4
  const std::vector<float> x = random_vector(image.numel(), 7, 0, 1);
  struct Result {
    std::vector<float> out, grads;
  };
  auto run = [&](bool blocking) {
    Graph g(*be, store);
    g.set_channel_blocking(blocking);
    Var in = g.input("x", image);
    g.bind(in, x.data());
    const BlockedTower::Maps m = tower(g, in);
    std::vector<float> targets;
    const std::vector<LossSeed> seeds{probe(g, m.out, targets, 8)};
    g.plan(true);
    EXPECT_EQ(g.channel_block(m.stem), blocking ? b : 1);
    EXPECT_EQ(g.channel_block(m.joined), blocking ? b : 1);
    EXPECT_EQ(g.channel_block(m.out), 1) << "the head's 2 channels are read by the loss";
    EXPECT_EQ(g.channel_block(in), 1) << "inputs stay plain";
    g.forward();
    be->fill(store.grads(), store.total(), 0.0f);
    g.backward(seeds);
    Result r;
    r.out.assign(g.value(m.out), g.value(m.out) + g.shape(m.out).numel());
    r.grads.assign(store.grads(), store.grads() + store.total());
    return r;
  };
  const Result blocked = run(true), plain = run(false);
  EXPECT_EQ(blocked.out, plain.out);
  EXPECT_EQ(blocked.grads, plain.grads);
}

// Resampling blocked maps: pixels of b floats, the same bits as the plain maps' ops.
TEST(ChannelBlocks, ResamplingBlockedMapsMatchesPlainMaps) {
  auto be = make_cpu_backend(2);
  const int n = 2, c = 32, h = 3, w = 5;
  // Pixels of 8 and 16 floats (the channel blocks of AVX2 and AVX-512) and of 4 (the
  // backend's loop for other widths).
  for (const int b : {8, 16, 4}) {
    // plain [n, c, h, w] <-> blocked [n, c / b, h, w, b]
    auto blocked = [&](const std::vector<float>& plain, int hh, int ww) {
      std::vector<float> out(plain.size());
      for (int i = 0; i < n; ++i)
        for (int ch = 0; ch < c; ++ch)
          for (int p = 0; p < hh * ww; ++p)
            out[((size_t(i) * (c / b) + ch / b) * hh * ww + p) * b + ch % b] =
                plain[(size_t(i) * c + ch) * hh * ww + p];
      return out;
    };
    const std::vector<float> small = random_vector(size_t(n) * c * h * w, 3, -1, 1);
    const std::vector<float> big = random_vector(size_t(n) * c * 4 * h * w, 4, -1, 1);
    std::vector<float> up(big.size()), up_blocked(big.size()), pooled(small.size()), pooled_blocked(small.size());
    for (const bool accumulate : {false, true}) {
      std::vector<float> base = random_vector(big.size(), 5, -1, 1), base_small = random_vector(small.size(), 6, -1, 1);
      up = base;
      up_blocked = blocked(base, 2 * h, 2 * w);
      pooled = base_small;
      pooled_blocked = blocked(base_small, h, w);
      be->upsample2x(up.data(), small.data(), n * c, h, w, 1, 0.25f, accumulate);
      be->upsample2x(up_blocked.data(), blocked(small, h, w).data(), n * c / b, h, w, b, 0.25f, accumulate);
      EXPECT_EQ(up_blocked, blocked(up, 2 * h, 2 * w)) << "block " << b << " accumulate " << accumulate;
      be->sum_pool2x(pooled.data(), big.data(), n * c, h, w, 1, 0.25f, accumulate);
      be->sum_pool2x(pooled_blocked.data(), blocked(big, 2 * h, 2 * w).data(), n * c / b, h, w, b, 0.25f,
                     accumulate);
      EXPECT_EQ(pooled_blocked, blocked(pooled, h, w)) << "block " << b << " accumulate " << accumulate;
    }
  }
}

TEST(LayersGradCheck, GroupNormOnImagesAndRows) {
  GraphCheck c(51);
  GroupNorm images(c.store(), "gn", 4, 2);
  GroupNorm rows(c.store(), "gn_rows", 6, 3);
  std::vector<float> t1, t2, t3;
  c.run({Shape::images(2, 4, 2, 3), Shape::images(2, 4, 2, 3), Shape::rows(3, 6)},
        [&](Graph& g, const std::vector<Var>& x) {
          Var y = add(g, images(g, x[0]), x[0]);   // x[0] read twice
          Var shared = images(g, x[1]);            // the same gamma, beta again
          return Seeds{probe(g, y, t1, 52), probe(g, shared, t2, 53), probe(g, rows(g, x[2]), t3, 54)};
        },
        "group_norm");
}

TEST(LayersGradCheck, WeightNormLinearAndConv) {
  GraphCheck c(61);
  WeightOptions wn;
  wn.weight_norm = true;
  Linear fc(c.store(), "fc", 4, 3, Activation::kTanh, wn);
  Conv2d conv(c.store(), "conv", 2, 3, 3, 1, 1, Activation::kSwish, wn);
  std::vector<float> t1, t2;
  c.run({Shape::rows(3, 4), Shape::images(2, 2, 3, 3)},
        [&](Graph& g, const std::vector<Var>& x) {
          Var h = add(g, fc(g, x[0]), fc(g, x[0]));  // a shared layer: v and g gradients add up
          return Seeds{probe(g, h, t1, 62), probe(g, add(g, conv(g, x[1]), conv(g, x[1])), t2, 63)};
        },
        "weight-normed linear and conv2d", 0.8f);
}

TEST(LayersGradCheck, EmbeddingUsedTwiceWithRepeatedAndInvalidClasses) {
  GraphCheck c(71);
  Embedding emb(c.store(), "emb", 4, 3);
  Linear fc(c.store(), "fc", 3, 2, Activation::kTanh);
  std::vector<float> index = {2, 0, 2, 3, -1, 4};  // class 2 twice; -1 and 4 are not classes
  std::vector<float> t1, t2;
  c.run({Shape::rows(6, 3)},
        [&](Graph& g, const std::vector<Var>& x) {
          Var idx = g.input("index", Shape::rows(6, 1));
          g.bind(idx, index.data());
          Var e = emb(g, idx);
          Var twice = add(g, emb(g, idx), x[0]);
          return Seeds{probe(g, fc(g, e), t1, 72), probe(g, twice, t2, 73)};
        },
        "embedding");
}

TEST(LayersGradCheck, ResidualCellWithGroupNormAndWeightNorm) {
  GraphCheck c(81);
  ResidualCellOptions o;
  o.hidden = 2;
  o.groups = 2;
  o.weight_norm = true;
  o.branch_scale = 0.5f;
  ResidualCell cell(c.store(), "cell", 4, o);
  ResidualCellOptions plain;
  plain.kernel = 1;
  ResidualCell cell2(c.store(), "cell2", 4, plain);
  std::vector<float> t;
  c.run({Shape::images(2, 4, 3, 3)},
        [&](Graph& g, const std::vector<Var>& x) { return Seeds{probe(g, cell2(g, cell(g, x[0])), t, 82)}; },
        "residual cells", 0.8f);
}

// ---- initialisation ----

TEST(LayerInit, GroupNormStartsAsPlainNormalisationAndWeightNormAsItsWeight) {
  auto be = make_cpu_backend();
  ParamStore store;
  GroupNorm gn(store, "gn", 4, 2);
  WeightOptions wn;
  wn.weight_norm = true;
  Linear fc(store, "fc", 5, 3, Activation::kIdentity, wn);
  store.allocate(*be, 3);
  EXPECT_EQ(store.slice(0).name, "gn.weight");
  for (int j = 0; j < 4; ++j) EXPECT_EQ(store.param(0)[j], 1.0f);
  for (int j = 0; j < 4; ++j) EXPECT_EQ(store.param(1)[j], 0.0f);
  EXPECT_EQ(store.slice(2).name, "fc.weight_v");
  EXPECT_EQ(store.slice(3).name, "fc.weight_g");
  EXPECT_EQ(store.slice(3).shape, (std::vector<int64_t>{3, 1}));
  // w = g v / ||v|| with g = ||v||: the weight starts as v, bit for bit.
  Graph g(*be, store);
  Var w = weight_norm(g, 2, 3, 3, 5);
  g.plan(false);
  g.forward();
  for (int i = 0; i < 15; ++i) EXPECT_EQ(g.value(w)[i], store.param(2)[i]) << i;
}

// A residual cell whose last conv starts at zero is the identity at init.
TEST(LayerInit, ZeroInitResidualCellIsTheIdentity) {
  for (bool weight_norm : {false, true}) {
    auto be = make_cpu_backend();
    ParamStore store;
    ResidualCellOptions o;
    o.last_init_scale = 0.0f;
    o.groups = 2;
    o.weight_norm = weight_norm;
    ResidualCell cell(store, "cell", 4, o);
    store.allocate(*be, 5);
    Graph g(*be, store);
    std::vector<float> xv = random_vector(2 * 4 * 3 * 3, 6);
    Var x = g.input("x", Shape::images(2, 4, 3, 3));
    Var y = cell(g, x);
    g.plan(false);
    g.bind(x, xv.data());
    g.forward();
    for (size_t i = 0; i < xv.size(); ++i) EXPECT_EQ(g.value(y)[i], xv[i]) << i;
  }
}

TEST(LayerErrors, BadShapesAndOptionsAreErrors) {
  auto be = make_cpu_backend();
  ParamStore store;
  EXPECT_THROW(GroupNorm(store, "gn", 6, 4), Error);
  GroupNorm gn(store, "gn", 4, 2);
  Embedding emb(store, "emb", 3, 2);
  ResidualCellOptions even;
  even.kernel = 2;
  EXPECT_THROW(ResidualCell(store, "cell", 4, even), Error);
  store.allocate(*be, 1);
  Graph g(*be, store);
  Var odd = g.input("odd", Shape::images(1, 4, 3, 4));
  EXPECT_THROW(avg_pool2x(g, odd), Error);
  EXPECT_THROW(gn(g, g.input("x", Shape::images(1, 3, 2, 2))), Error);
  EXPECT_THROW(concat_channels(g, odd, g.input("y", Shape::images(1, 2, 4, 3))), Error);
  EXPECT_THROW(emb(g, g.input("two", Shape::rows(2, 2))), Error);
}

// ---- the CPU ops: the same bits for every thread count ----

// Every parallel op on shapes large enough to be cut into several parts, all outputs
// collected into one vector.
std::vector<float> run_layer_ops(Backend& be) {
  std::vector<float> out;
  auto take = [&](const std::vector<float>& v) { out.insert(out.end(), v.begin(), v.end()); };
  {  // group norm: 8 samples, 32 channels in 8 groups, 32 x 32 pixels
    const int n = 8, c = 32, hw = 1024, groups = 8;
    const size_t size = size_t(n) * c * hw;
    std::vector<float> x = random_vector(size, 1, -2, 3), dy = random_vector(size, 2);
    std::vector<float> gamma = random_vector(c, 3), beta = random_vector(c, 4);
    std::vector<float> y(size), stats(2 * n * groups), dx = random_vector(size, 5), dg(c, 0.5f), db(c, -0.5f);
    be.group_norm_forward(y.data(), stats.data(), x.data(), gamma.data(), beta.data(), n, c, hw, groups, 1e-5f);
    be.group_norm_backward(dx.data(), dg.data(), db.data(), dy.data(), x.data(), stats.data(), gamma.data(), n, c, hw,
                           groups, true);
    take(y), take(stats), take(dx), take(dg), take(db);
  }
  {  // weight norm: 256 output units of 1152 inputs (a 3x3 conv of 128 channels)
    const int rows = 256, cols = 1152;
    std::vector<float> v = random_vector(size_t(rows) * cols, 6), g = random_vector(rows, 7);
    std::vector<float> dw = random_vector(v.size(), 8), w(v.size()), norms(rows), dv(v.size(), 0.25f), dgn(rows);
    be.weight_norm_forward(w.data(), norms.data(), v.data(), g.data(), rows, cols);
    be.weight_norm_backward(dv.data(), dgn.data(), dw.data(), v.data(), g.data(), norms.data(), rows, cols);
    take(w), take(norms), take(dv), take(dgn);
  }
  {  // embedding: 512 rows, 10 classes (and invalid numbers), 256 dimensions
    const int rows = 512, classes = 10, dim = 256;
    std::vector<float> index(rows);
    for (int r = 0; r < rows; ++r) index[r] = float((r * 7) % (classes + 2)) - 1.0f;  // -1 .. 10
    std::vector<float> table = random_vector(size_t(classes) * dim, 9), dy = random_vector(size_t(rows) * dim, 10);
    std::vector<float> y(dy.size()), dtable = random_vector(table.size(), 11);
    be.embedding_forward(y.data(), table.data(), index.data(), rows, classes, dim);
    be.embedding_backward(dtable.data(), dy.data(), index.data(), rows, classes, dim);
    take(y), take(dtable);
  }
  {  // resampling: 64 planes of 32 x 32, both directions, assigning and accumulating
    const int planes = 64, h = 32, w = 32;
    std::vector<float> small = random_vector(size_t(planes) * h * w, 12), big = random_vector(4 * small.size(), 13);
    std::vector<float> up = random_vector(big.size(), 14), pooled = random_vector(small.size(), 15), up2(big.size());
    be.upsample2x(up.data(), small.data(), planes, h, w, 1, 0.25f, true);
    be.upsample2x(up2.data(), small.data(), planes, h, w, 1, 1.0f, false);
    be.sum_pool2x(pooled.data(), big.data(), planes, h, w, 1, 1.0f, true);
    take(up), take(up2), take(pooled);
  }
  {  // column blocks and activations from the input
    const int rows = 1000;
    std::vector<float> src = random_vector(size_t(rows) * 300, 16), dst = random_vector(size_t(rows) * 500, 17);
    be.copy_columns(dst.data() + 100, 500, src.data(), 300, rows, 300, true);
    be.copy_columns(dst.data(), 500, src.data() + 200, 300, rows, 100, false);
    take(dst);
    for (Activation a : {Activation::kSwish, Activation::kSoftplus, Activation::kGELU}) {
      std::vector<float> x = random_vector(100000, 18, -8, 8), d = random_vector(100000, 19), y = x;
      std::vector<float> zero(1000, 0.0f);
      be.bias_act_forward(y.data(), zero.data(), 100, 1000, a);
      be.act_backward_from_input(d.data(), d.data(), x.data(), x.size(), a);
      take(y), take(d);
    }
  }
  return out;
}

TEST(LayerOpsThreads, BitwiseIdenticalOnOneTwoAndThreeThreads) {
  auto one = make_cpu_backend(1);
  const std::vector<float> reference = run_layer_ops(*one);
  for (int threads : {2, 3}) {
    auto be = make_cpu_backend(threads);
    const std::vector<float> got = run_layer_ops(*be);
    ASSERT_EQ(got.size(), reference.size());
    size_t differ = 0;
    for (size_t i = 0; i < got.size(); ++i) differ += std::memcmp(&got[i], &reference[i], sizeof(float)) != 0;
    EXPECT_EQ(differ, 0u) << threads << " threads";
  }
}

// The ops against a direct evaluation of their definitions (small sizes, double).
TEST(LayerOps, GroupNormAndResamplingMatchTheirDefinitions) {
  auto be = make_cpu_backend();
  const int n = 2, c = 4, hw = 6, groups = 2, m = 2 * hw;
  std::vector<float> x = random_vector(n * c * hw, 91, -2, 2), gamma = random_vector(c, 92), beta = random_vector(c, 93);
  std::vector<float> y(x.size()), stats(2 * n * groups);
  be->group_norm_forward(y.data(), stats.data(), x.data(), gamma.data(), beta.data(), n, c, hw, groups, 1e-5f);
  for (int k = 0; k < n * groups; ++k) {
    double mean = 0, var = 0;
    for (int i = 0; i < m; ++i) mean += x[k * m + i] / double(m);
    for (int i = 0; i < m; ++i) var += (x[k * m + i] - mean) * (x[k * m + i] - mean) / m;
    for (int i = 0; i < m; ++i) {
      const int ch = (k % groups) * 2 + i / hw;
      EXPECT_NEAR(y[k * m + i], (x[k * m + i] - mean) / std::sqrt(var + 1e-5) * gamma[ch] + beta[ch], 1e-5);
    }
  }
  std::vector<float> small = {1, 2, 3, 4, 5, 6}, big(24), pooled(6);  // one plane of 2 x 3
  be->upsample2x(big.data(), small.data(), 1, 2, 3, 1, 1.0f, false);
  EXPECT_EQ(big, (std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6}));
  be->sum_pool2x(pooled.data(), big.data(), 1, 2, 3, 1, 0.25f, false);
  EXPECT_EQ(pooled, small);
}

}  // namespace
}  // namespace elbo
