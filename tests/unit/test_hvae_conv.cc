// The convolutional hierarchical VAE (model.group_type: conv, models/hvae_blocks.h) and
// what sampling adds to every hvae: finite-difference checks of the whole negative ELBO
// and IWAE bound with 3 groups at several resolutions and either posterior, bitwise
// equal training on 1 and 3 threads, the layout of a conv group's parameters, sampling
// temperatures, reconstructions from the top groups, and each group's posterior means.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/error.h"
#include "elbo/models/vae_model.h"
#include "support/gradient_check.h"
#include "support/model_check.h"
#include "support/recording_backend.h"
#include "support/train_steps.h"

namespace elbo {
namespace {

// 3 groups on 8x8 images: the top at 2x2, the next at 4x4, the bottom at 8x8 (scales 4, 2, 1),
// with channel counts that change from group to group (the 1x1 projections).
ModelConfig conv_hvae(const char* posterior, const char* likelihood = "bernoulli") {
  ModelConfig mc;
  mc.type = "hvae";
  mc.group_type = "conv";
  mc.latents = {2, 1, 1};
  mc.group_hidden = {4, 3, 3};
  mc.group_scale = {4, 2, 1};
  mc.group_depth = 1;
  mc.posterior = posterior;
  mc.activation = "swish";
  mc.likelihood = likelihood;
  return mc;
}

const Shape kImage = Shape::images(1, 1, 8, 8);

struct ConvCase {
  const char* posterior;
  const char* likelihood;
  int side;  // images side x side: 4 for the Gaussian, whose loss in float32 is coarser per pixel
};

class ConvHvaeGradCheck : public ::testing::TestWithParam<ConvCase> {
 protected:
  // The case's model with every parameter moved by U(-0.1, 0.1): the prior heads start at
  // zero, and a zero weight passes no gradient on to the rest of the tower.
  std::unique_ptr<VaeModel> jittered_model(Backend& be, uint64_t seed) {
    const ConvCase& c = GetParam();
    auto model = make_model(conv_hvae(c.posterior, c.likelihood), image(), be, seed);
    ParamStore& ps = model->params();
    const std::vector<float> jitter = random_vector(ps.total(), uint32_t(seed + 1), -0.1f, 0.1f);
    for (size_t i = 0; i < ps.total(); ++i) ps.params()[i] += jitter[i];
    return model;
  }
  Shape image() const { return Shape::images(1, 1, GetParam().side, GetParam().side); }
  std::vector<float> batch(int rows, uint32_t seed) const {
    return random_vector(size_t(rows) * image().row_size(), seed, 0, 1);
  }
};

TEST_P(ConvHvaeGradCheck, WholeNegativeElbo) {
  auto be = make_cpu_backend();
  auto model = jittered_model(*be, 81);
  ASSERT_EQ(model->kl_groups(), 3);
  const int side = GetParam().side;
  ASSERT_EQ(model->latent_dim(), 2 * (side / 4) * (side / 4));  // 2 channels at 1/4 of the side
  expect_whole_model_gradient(*be, *model, batch(2, 83), 2, std::string("conv hvae elbo, ") + GetParam().posterior);
}

TEST_P(ConvHvaeGradCheck, WholeIwaeBound) {
  auto be = make_cpu_backend();
  auto model = jittered_model(*be, 84);
  model->set_objective(Objective::iwae_bound(3));
  expect_whole_model_gradient(*be, *model, batch(2, 86), 2, std::string("conv hvae iwae, ") + GetParam().posterior);
}

INSTANTIATE_TEST_SUITE_P(ConvGroups, ConvHvaeGradCheck,
                         ::testing::Values(ConvCase{"merge", "bernoulli", 8}, ConvCase{"residual", "bernoulli", 8},
                                           ConvCase{"residual", "gaussian", 4}, ConvCase{"merge", "gaussian", 4}),
                         [](const ::testing::TestParamInfo<ConvCase>& info) {
                           return std::string(info.param.posterior) + "_" + info.param.likelihood + "_" +
                                  std::to_string(info.param.side);
                         });

// Parameter names and shapes: residual cells per group, the 1x1 projections where the
// width changes, the prior heads zero at init (p = N(0, I)), the cells' last convs scaled.
TEST(ConvHvae, LayoutAndInitialisation) {
  auto be = make_cpu_backend();
  auto model = make_model(conv_hvae("residual"), kImage, *be, 87);
  ParamStore& ps = model->params();
  auto find = [&](const std::string& name) -> const ParamSlice* {
    for (size_t i = 0; i < ps.slices().size(); ++i)
      if (ps.slices()[i].name == name) return &ps.slices()[i];
    return nullptr;
  };
  for (const char* name : {"encoder.2.stem.weight", "encoder.2.cell0.conv1.weight", "encoder.1.cell0.conv2.weight",
                           "encoder.0.proj.weight", "encoder.0.q.weight", "encoder.1.q.weight", "prior.1.weight",
                           "prior.2.weight", "decoder.0.z.weight", "decoder.0.proj.weight", "decoder.2.cell0.conv1.weight",
                           "decoder.out.weight"})
    EXPECT_NE(find(name), nullptr) << name;
  EXPECT_EQ(find("decoder.1.proj.weight"), nullptr) << "groups 1 and 2 have the same width";
  const ParamSlice* prior = find("prior.2.weight");
  ASSERT_NE(prior, nullptr);
  EXPECT_EQ(prior->shape, (std::vector<int64_t>{2, 3, 3, 3}));  // (mu | logvar) of 1 latent channel
  for (size_t i = 0; i < prior->size; ++i) ASSERT_EQ(ps.params()[prior->offset + i], 0.0f);
}

// 1 and 3 threads: bitwise the same parameters, moments and losses after a few steps.
TEST(ConvHvae, TrainingStepsAreBitwiseIdenticalForAnyThreadCount) {
  ModelConfig model = conv_hvae("merge");
  model.group_hidden = {16, 16, 8};
  TrainConfig train;
  train.lr = 2e-3f;
  const int rows = 16, steps = 4;
  const Shape image = Shape::images(1, 1, 16, 16);
  const std::vector<float> images = synthetic_batches(steps, rows, 256, 3);
  auto be1 = make_cpu_backend(1);
  const TrainStepsResult one = run_train_steps(*be1, model, train, image, rows, steps, images, 5);
  auto be3 = make_cpu_backend(3);
  const TrainStepsResult many = run_train_steps(*be3, model, train, image, rows, steps, images, 5);
  EXPECT_EQ(many.params, one.params);
  EXPECT_EQ(many.adam_m, one.adam_m);
  EXPECT_EQ(many.recon, one.recon);
  EXPECT_EQ(many.kl, one.kl);
  EXPECT_LT(one.recon.back(), one.recon.front());
}

// Channel-blocked maps (nn/graph.h): the 16-channel towers keep their maps in the layout
// oneDNN's convolutions compute in; the same training steps with every map plain
// (ELBO_CHANNEL_BLOCKS=0 when the backend is made) give the same bits, for the ELBO and
// for the IWAE bound (whose k samples repeat the bottom-up maps).
TEST(ConvHvae, ChannelBlockedMapsTrainToThePlainMapsBits) {
  for (const bool iwae : {false, true}) {
    ModelConfig model = conv_hvae("residual");
    model.group_hidden = {16, 16, 16};
    model.group_depth = 2;
    TrainConfig train;
    train.lr = 2e-3f;
    if (iwae) {
      train.objective = "iwae";
      train.iw_samples = 2;
    }
    const int rows = 10, steps = 3;  // 20 rows with k = 2: a chunk of 16 images and one of 4
    const Shape image = Shape::images(1, 1, 16, 16);
    const std::vector<float> images = synthetic_batches(steps, rows, 256, 11);
    RecordingBackend blocked_be(2);  // runs each op at once (nothing is captured) and counts
    if (blocked_be.channel_block() == 0) GTEST_SKIP() << "oneDNN chose no blocked layout for convolutions here";
    const TrainStepsResult blocked = run_train_steps(blocked_be, model, train, image, rows, steps, images, 5);
    EXPECT_GT(blocked_be.blocked_convolutions(), 0) << "no convolution saw a blocked map";
    ASSERT_EQ(setenv("ELBO_CHANNEL_BLOCKS", "0", 1), 0);
    auto plain_be = make_cpu_backend(2);
    unsetenv("ELBO_CHANNEL_BLOCKS");
    ASSERT_EQ(plain_be->channel_block(), 0);
    const TrainStepsResult plain = run_train_steps(*plain_be, model, train, image, rows, steps, images, 5);
    const char* what = iwae ? "iwae" : "elbo";
    EXPECT_EQ(blocked.params, plain.params) << what;
    EXPECT_EQ(blocked.adam_m, plain.adam_m) << what;
    EXPECT_EQ(blocked.recon, plain.recon) << what;
    EXPECT_EQ(blocked.kl, plain.kl) << what;
  }
}

// The activation memory printed at the start: the training graph's arena, planned before
// the first step; it grows with the batch (the constants of the graph do not), and the
// training step then runs in it without planning anything more.
TEST(ConvHvae, TrainingActivationBytesArePlannedBeforeTheFirstStep) {
  auto be = make_cpu_backend();
  auto model = make_model(conv_hvae("residual"), kImage, *be, 7);
  const size_t small = model->training_activation_bytes(*be, 4), big = model->training_activation_bytes(*be, 8);
  EXPECT_GT(small, 4u * kImage.row_size() * sizeof(float));
  EXPECT_GT(big, small + small / 2);
  EXPECT_LE(big, 2 * small);
  const std::vector<float> x = random_vector(8 * kImage.row_size(), 8, 0, 1);
  model->forward(*be, x.data(), 8, NoiseKey{1, 1, 0, 0});
  EXPECT_EQ(model->training_activation_bytes(*be, 8), big) << "the step used the planned graph";
}

// Gradient checkpointing (train.recompute): the residual cells recomputed in backward give
// the same bits after several training steps, in less activation memory.
TEST(ConvHvae, RecomputedCellsTrainToTheSameBitsInLessMemory) {
  ModelConfig model = conv_hvae("residual");
  model.group_hidden = {16, 16, 8};
  model.group_depth = 2;
  TrainConfig train;
  train.lr = 2e-3f;
  const int rows = 8, steps = 3;
  const Shape image = Shape::images(1, 1, 16, 16);
  const std::vector<float> images = synthetic_batches(steps, rows, 256, 9);
  auto be = make_cpu_backend(2);
  const TrainStepsResult plain = run_train_steps(*be, model, train, image, rows, steps, images, 5);
  train.recompute = true;
  const TrainStepsResult recomputed = run_train_steps(*be, model, train, image, rows, steps, images, 5);
  EXPECT_EQ(recomputed.params, plain.params);
  EXPECT_EQ(recomputed.recon, plain.recon);
  EXPECT_EQ(recomputed.kl, plain.kl);
  auto bytes = [&](bool recompute) {
    auto m = make_model(model, image, *be, 5);
    m->set_recompute(recompute);
    return m->training_activation_bytes(*be, 32);
  };
  const size_t kept = bytes(false), pooled = bytes(true);
  EXPECT_LT(double(pooled), 0.8 * double(kept)) << kept << " bytes without recomputation, " << pooled << " with";
}

// K = L groups from the posterior is the reconstruction; K = 0 ignores the image (two
// twins with the same seed draw the same prior samples for different images); K = 1
// does not.
TEST(HvaeSampling, TopGroupReconstructions) {
  for (bool conv : {false, true}) {
    auto be = make_cpu_backend();
    ModelConfig mc = conv ? conv_hvae("merge") : ModelConfig{};
    if (!conv) {
      mc.type = "hvae";
      mc.latents = {2, 3, 2};
      mc.group_hidden = {4, 5, 6};
      mc.group_depth = 1;
    }
    const Shape image = conv ? kImage : Shape::rows(1, 6);
    const int dim = int(image.row_size()), rows = 3;
    auto a = make_model(mc, image, *be, 91), b = make_model(mc, image, *be, 91);
    const std::vector<float> x1 = random_vector(size_t(rows) * dim, 92, 0, 1), x2 = random_vector(x1.size(), 93, 0, 1);
    std::vector<float> rec(x1.size()), top(x1.size()), other(x1.size());
    a->reconstruct(*be, rec.data(), x1.data(), rows);
    a->reconstruct_top_groups(*be, top.data(), x1.data(), rows, 3);
    EXPECT_EQ(top, rec) << "conv " << conv;
    b->reconstruct_top_groups(*be, other.data(), x2.data(), rows, 3);  // the twins' draws stay in step
    a->reconstruct_top_groups(*be, top.data(), x1.data(), rows, 0);
    b->reconstruct_top_groups(*be, other.data(), x2.data(), rows, 0);
    EXPECT_EQ(top, other) << "conv " << conv << ": K = 0 draws everything from the prior";
    a->reconstruct_top_groups(*be, top.data(), x1.data(), rows, 1);
    b->reconstruct_top_groups(*be, other.data(), x2.data(), rows, 1);
    EXPECT_NE(top, other) << "conv " << conv << ": K = 1 reads the image";
    EXPECT_THROW(a->reconstruct_top_groups(*be, top.data(), x1.data(), rows, 4), Error);
  }
}

// The top group's draws scale with T; lower groups' spread around their prior means
// shrinks with T (at a tiny T the decoded samples of two different noise streams agree).
TEST(HvaeSampling, Temperatures) {
  auto be = make_cpu_backend();
  auto model = make_model(conv_hvae("merge"), kImage, *be, 95);
  const int rows = 4, latent = model->latent_dim();
  std::vector<float> z1(size_t(rows) * latent), zt(z1.size());
  model->sample_prior(*be, z1.data(), rows, 7);
  model->set_sample_temperatures({0.5f});
  model->sample_prior(*be, zt.data(), rows, 7);
  for (size_t i = 0; i < z1.size(); ++i) ASSERT_EQ(zt[i], 0.5f * z1[i]);
  // Per group, top first: the top's 1.0, tiny below; successive calls draw other noise.
  model->set_sample_temperatures({1.0f, 1e-6f, 1e-6f});
  std::vector<float> first(size_t(rows) * 64), second(first.size());
  model->decode_mean(*be, first.data(), z1.data(), rows);
  model->decode_mean(*be, second.data(), z1.data(), rows);
  for (size_t i = 0; i < first.size(); ++i) ASSERT_NEAR(first[i], second[i], 1e-4f);
  model->set_sample_temperatures({1.0f});
  model->decode_mean(*be, second.data(), z1.data(), rows);
  double differ = 0.0;
  for (size_t i = 0; i < first.size(); ++i) differ = std::max(differ, double(std::fabs(first[i] - second[i])));
  EXPECT_GT(differ, 1e-3) << "at T = 1 the lower groups' draws change the samples";
  // One value or one per group, positive.
  EXPECT_THROW(model->set_sample_temperatures({1.0f, 0.5f}), Error);
  EXPECT_THROW(model->set_sample_temperatures({-1.0f}), Error);
  EXPECT_THROW(model->set_sample_temperatures({}), Error);
  ModelConfig mlp;
  mlp.hidden = {8};
  mlp.latent = 2;
  auto single = make_model(mlp, 6, *be, 96);
  EXPECT_THROW(single->set_sample_temperatures({1.0f, 0.5f}), Error);
  EXPECT_THROW(single->reconstruct_top_groups(*be, first.data(), z1.data(), 1, 0), Error);
}

// The VampPrior's draws: z = mu_k + T sigma_k eps, so z(T) is on the line from the
// component's mean (a tiny T) to the draw at T = 1.
TEST(HvaeSampling, VampPriorTemperature) {
  auto be = make_cpu_backend();
  ModelConfig mc;
  mc.hidden = {8};
  mc.latent = 3;
  mc.prior = "vamp";
  mc.pseudo_inputs = 4;
  auto model = make_model(mc, 6, *be, 99);
  const int rows = 5;
  std::vector<float> z1(size_t(rows) * 3), zh(z1.size()), z0(z1.size());
  model->sample_prior(*be, z1.data(), rows, 3);
  model->set_sample_temperatures({0.5f});
  model->sample_prior(*be, zh.data(), rows, 3);
  model->set_sample_temperatures({1e-7f});
  model->sample_prior(*be, z0.data(), rows, 3);
  for (size_t i = 0; i < z1.size(); ++i) EXPECT_NEAR(zh[i], 0.5f * (z0[i] + z1[i]), 1e-5f) << i;
  EXPECT_NE(z0, z1);
}

// Group means, group after group: the first is the top's posterior mean.
TEST(HvaeSampling, GroupPosteriorMeans) {
  auto be = make_cpu_backend();
  auto model = make_model(conv_hvae("residual"), kImage, *be, 97);
  const int rows = 3;
  ASSERT_EQ(model->group_dim(0), 8);
  ASSERT_EQ(model->group_dim(1), 16);
  ASSERT_EQ(model->group_dim(2), 64);
  const std::vector<float> x = random_vector(size_t(rows) * 64, 98, 0, 1);
  std::vector<float> all(size_t(rows) * (8 + 16 + 64)), top(size_t(rows) * 8);
  model->group_posterior_means(*be, all.data(), x.data(), rows);
  model->posterior_mean(*be, top.data(), x.data(), rows);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < 8; ++j) EXPECT_EQ(all[size_t(r) * 88 + size_t(j)], top[size_t(r) * 8 + size_t(j)]);
}

TEST(ConvHvaeConfig, KeysAndErrors) {
  const Config c = parse_config(
      "data: {train: x}\n"
      "model: {type: hvae, group_type: conv, latents: [4, 8], group_hidden: [16, 32], group_scale: [4, 2]}\n",
      "test");
  EXPECT_EQ(c.model.group_scale, (std::vector<int>{4, 2}));
  const std::string yaml = model_config_to_yaml(c.model);
  EXPECT_NE(yaml.find("  group_type: conv\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  group_scale: [4, 2]\n"), std::string::npos) << yaml;
  auto error = [](const std::string& model) {
    try {
      parse_config("data: {train: x}\nmodel: {type: hvae, group_type: conv, " + model + "}\n", "test");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error("latents: [4, 8, 8], group_hidden: [8, 8, 8], group_scale: [4, 2]").find("model.group_scale"),
            std::string::npos);
  EXPECT_NE(error("latents: [4, 8], group_hidden: [8, 8], group_scale: [3, 1]").find("power of 2"), std::string::npos);
  EXPECT_NE(error("latents: [4, 8], group_hidden: [8, 8], group_scale: [2, 4]").find("never grow"), std::string::npos);
  EXPECT_NE(error("group_type: dense").find("model.group_type"), std::string::npos);
  // Images that do not divide into the scale's blocks, and flat data, fail when built.
  auto be = make_cpu_backend();
  ModelConfig mc = conv_hvae("merge");
  EXPECT_THROW(make_model(mc, Shape::images(1, 1, 6, 6), *be, 1), Error);
  EXPECT_THROW(make_model(mc, 64, *be, 1), Error);
}

}  // namespace
}  // namespace elbo
