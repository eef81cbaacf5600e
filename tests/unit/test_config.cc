// The typed config: defaults, a full file, overrides, the round trip through
// config_to_yaml, the model section's fixed text, and the shipped configs and docs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "elbo/config.h"
#include "elbo/error.h"
#include "elbo/backend.h"
#include "elbo/models/vae_model.h"
#include "support/synthetic_data.h"

namespace elbo {
namespace {

// Every field, one by one: a missed field in the emitter or the parser shows here.
void expect_same(const Config& a, const Config& b) {
  EXPECT_EQ(a.run.dir, b.run.dir);
  EXPECT_EQ(a.run.seed, b.run.seed);
  EXPECT_EQ(a.data.train, b.data.train);
  EXPECT_EQ(a.data.test, b.data.test);
  EXPECT_EQ(a.data.binarize, b.data.binarize);
  EXPECT_EQ(a.data.threshold, b.data.threshold);
  EXPECT_EQ(a.data.scale, b.data.scale);
  EXPECT_EQ(a.data.memory_budget_mb, b.data.memory_budget_mb);
  EXPECT_EQ(a.data.prefetch_batches, b.data.prefetch_batches);
  EXPECT_EQ(a.model.type, b.model.type);
  EXPECT_EQ(a.model.hidden, b.model.hidden);
  EXPECT_EQ(a.model.latent, b.model.latent);
  EXPECT_EQ(a.model.activation, b.model.activation);
  EXPECT_EQ(a.model.likelihood, b.model.likelihood);
  EXPECT_EQ(a.train.global_batch, b.train.global_batch);
  EXPECT_EQ(a.train.steps, b.train.steps);
  EXPECT_EQ(a.train.epochs, b.train.epochs);
  EXPECT_EQ(a.train.optimizer, b.train.optimizer);
  EXPECT_EQ(a.train.lr, b.train.lr);
  EXPECT_EQ(a.train.beta1, b.train.beta1);
  EXPECT_EQ(a.train.beta2, b.train.beta2);
  EXPECT_EQ(a.train.eps, b.train.eps);
  EXPECT_EQ(a.train.weight_decay, b.train.weight_decay);
  EXPECT_EQ(a.train.grad_clip, b.train.grad_clip);
  EXPECT_EQ(a.train.beta, b.train.beta);
  EXPECT_EQ(a.train.kl_warmup_steps, b.train.kl_warmup_steps);
  EXPECT_EQ(a.train.log_every, b.train.log_every);
  EXPECT_EQ(a.train.checkpoint_every, b.train.checkpoint_every);
  EXPECT_EQ(a.train.keep_checkpoints, b.train.keep_checkpoints);
  EXPECT_EQ(a.train.metrics_format, b.train.metrics_format);
  EXPECT_EQ(a.train.sample_grid, b.train.sample_grid);
  EXPECT_EQ(a.train.device, b.train.device);
  EXPECT_EQ(a.train.precision, b.train.precision);
  EXPECT_EQ(a.train.cuda_graph, b.train.cuda_graph);
  EXPECT_EQ(a.dist.backend, b.dist.backend);
  EXPECT_EQ(a.dist.bucket_mb, b.dist.bucket_mb);
  EXPECT_EQ(a.dist.timeout_s, b.dist.timeout_s);
  EXPECT_EQ(a.eval.batch, b.eval.batch);
  EXPECT_EQ(a.eval.iw_samples, b.eval.iw_samples);
  EXPECT_EQ(a.eval.iw_chunk, b.eval.iw_chunk);
  EXPECT_EQ(a.eval.max_images, b.eval.max_images);
}

// A config whose every field differs from the default, with values that are awkward
// to write: floats with no short decimal form, strings a YAML reader would retype.
Config unusual_config() {
  Config c;
  c.run = {"runs/with space: and \"quotes\"", 18446744073709551615ull};
  c.data = {"true", "123", "no", "threshold", 1.0f / 3.0f, false, 7, 9};
  c.model = {"mlp_vae", {1000, 7, 3}, {16, 8, 4}, {2, 1, 2}, 5, "leaky_relu", "gaussian"};
  TrainConfig& t = c.train;
  t.global_batch = 4096;
  t.steps = 123456789012;
  t.epochs = 0;
  t.optimizer = "adamw";
  t.lr = 0.1f;
  t.beta1 = 0.0f;
  t.beta2 = 0.99999994f;  // the largest float below 1
  t.eps = 1.17549435e-38f;
  t.weight_decay = 3e-5f;
  t.grad_clip = 2.5f;
  t.beta = 1e7f;
  t.kl_warmup_steps = 77;
  t.log_every = 1;
  t.checkpoint_every = 0;
  t.keep_checkpoints = 11;
  t.metrics_format = "csv";
  t.sample_grid = 0;
  t.device = "cuda";
  t.precision = "bf16";
  t.cuda_graph = false;
  c.dist = {"nccl", 0.1, 1e-300};
  c.eval = {3, 5000, 1, 12};
  return c;
}

std::string read_source_file(const std::string& relative) {
  std::ifstream in(std::string(ELBO_SOURCE_DIR) + "/" + relative);
  EXPECT_TRUE(in) << "cannot open " << relative;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Config, MissingKeysKeepTheirDefaults) {
  const Config c = parse_config("data:\n  train: d/manifest.yaml\n", "t.yaml");
  Config expected;
  expected.data.train = "d/manifest.yaml";
  expect_same(c, expected);
  EXPECT_EQ(c.model.hidden, (std::vector<int>{512, 256}));
  EXPECT_EQ(c.train.lr, 1e-3f);
  EXPECT_EQ(c.dist.timeout_s, 300.0);
}

TEST(Config, EmptySectionsAreAllowed) {
  const Config c = parse_config("data: {train: x}\neval:\nrun: {}\n", "t.yaml");
  EXPECT_EQ(c.eval.iw_samples, 1000);
  EXPECT_EQ(c.run.dir, "runs/default");
}

TEST(Config, FullFileSetsEveryKey) {
  const std::string text = R"(
run:
  dir: runs/x
  seed: 7
data:
  train: a/manifest.yaml
  test: b/manifest.yaml
  binarize: dynamic
  threshold: 0.25
  scale: false
  memory_budget_mb: 64
  prefetch_batches: 2
model:
  type: mlp_vae
  hidden:
    - 300
    - 100
  latent: 10
  activation: tanh
  likelihood: gaussian
train:
  global_batch: 64
  steps: 500
  epochs: 0
  optimizer: adamw
  lr: 3e-4
  beta1: 0.8
  beta2: 0.99
  eps: 1e-6
  weight_decay: 0.01
  grad_clip: 1.0
  beta: 4
  kl_warmup_steps: 100
  log_every: 10
  checkpoint_every: 50
  keep_checkpoints: 2
  metrics_format: csv
  sample_grid: 4
  device: cpu
  precision: tf32
  cuda_graph: false
dist:
  backend: mpi
  bucket_mb: 2.5
  timeout_s: 60
eval:
  batch: 50
  iw_samples: 64
  iw_chunk: 16
  max_images: 200
)";
  const Config c = parse_config(text, "full.yaml");
  Config e;
  e.run = {"runs/x", 7};
  e.data = {"a/manifest.yaml", "b/manifest.yaml", "", "dynamic", 0.25f, false, 64, 2};
  e.model = {"mlp_vae", {300, 100}, {32, 64}, {2, 2}, 10, "tanh", "gaussian"};
  e.train.global_batch = 64;
  e.train.steps = 500;
  e.train.epochs = 0;
  e.train.optimizer = "adamw";
  e.train.lr = 3e-4f;
  e.train.beta1 = 0.8f;
  e.train.beta2 = 0.99f;
  e.train.eps = 1e-6f;
  e.train.weight_decay = 0.01f;
  e.train.grad_clip = 1.0f;
  e.train.beta = 4.0f;
  e.train.kl_warmup_steps = 100;
  e.train.log_every = 10;
  e.train.checkpoint_every = 50;
  e.train.keep_checkpoints = 2;
  e.train.metrics_format = "csv";
  e.train.sample_grid = 4;
  e.train.device = "cpu";
  e.train.precision = "tf32";
  e.train.cuda_graph = false;
  e.dist = {"mpi", 2.5, 60.0};
  e.eval = {50, 64, 16, 200};
  expect_same(c, e);
}

TEST(Config, OverridesApplyAfterTheFileInOrder) {
  const Config c = parse_config("data: {train: x}\ntrain: {lr: 0.5, epochs: 3}\n", "t.yaml",
                                {"train.lr=3e-4", "model.hidden=[256,128]", "model.hidden=[64, 32, 16]",
                                 "data.test = t/manifest.yaml", "run.seed=99"});
  EXPECT_EQ(c.train.lr, 3e-4f);
  EXPECT_EQ(c.train.epochs, 3);  // untouched file value survives
  EXPECT_EQ(c.model.hidden, (std::vector<int>{64, 32, 16}));  // the later override wins
  EXPECT_EQ(c.data.test, "t/manifest.yaml");
  EXPECT_EQ(c.run.seed, 99u);
}

TEST(Config, OverrideCanFixWhatTheFileLeavesInvalid) {
  // Validation runs after the overrides: a file without data.train is fine with --set.
  const Config c = parse_config("model: {latent: 4}\n", "t.yaml", {"data.train=d/manifest.yaml"});
  EXPECT_EQ(c.data.train, "d/manifest.yaml");
  EXPECT_EQ(c.model.latent, 4);
}

TEST(Config, LoadConfigReadsAFile) {
  // A directory of its own: two test runs on one machine never share the file.
  const std::string dir = make_temp_dir("elbo_config_load");
  const std::string path = dir + "/config.yaml";
  std::ofstream(path) << "data:\n  train: z/manifest.yaml\nmodel:\n  latent: 3\n";
  const Config c = load_config(path, {"model.latent=4"});
  EXPECT_EQ(c.data.train, "z/manifest.yaml");
  EXPECT_EQ(c.model.latent, 4);
  std::filesystem::remove_all(dir);
}

TEST(Config, RoundTripsEveryFieldExactly) {
  const Config c = unusual_config();
  const std::string yaml = config_to_yaml(c);
  const Config back = parse_config(yaml, "roundtrip");
  expect_same(back, c);
  EXPECT_EQ(config_to_yaml(back), yaml);  // and the text is a fixed point
}

TEST(Config, RoundTripsDefaults) {
  Config c;
  c.data.train = "x";
  expect_same(parse_config(config_to_yaml(c), "defaults"), c);
}

TEST(Config, EmitsEveryKeyWithDefaultsInStableOrder) {
  const std::string yaml = config_to_yaml(Config{});
  const YAML::Node root = YAML::Load(yaml);
  std::vector<std::string> sections;
  size_t keys = 0;
  for (const auto& section : root) {
    sections.push_back(section.first.Scalar());
    keys += section.second.size();
  }
  EXPECT_EQ(sections, (std::vector<std::string>{"run", "data", "model", "train", "dist", "eval"}));
  EXPECT_EQ(keys, 82u);  // every member of the six structs in config.h
  EXPECT_EQ(root["train"]["lr"].Scalar(), "0.001");
  EXPECT_EQ(root["model"]["hidden"].size(), 2u);
  EXPECT_EQ(yaml, config_to_yaml(Config{}));
}

TEST(Config, ModelYamlIsFixedText) {
  // A checkpoint stores this text and refuses to load into a model whose text differs,
  // so changing the format breaks old checkpoints: change it deliberately or not at all.
  EXPECT_EQ(model_config_to_yaml(ModelConfig{}),
            "model:\n"
            "  type: mlp_vae\n"
            "  hidden: [512, 256]\n"
            "  latent: 32\n"
            "  activation: relu\n"
            "  likelihood: bernoulli\n");
  ModelConfig other;
  other.hidden = {512, 128};
  EXPECT_NE(model_config_to_yaml(other), model_config_to_yaml(ModelConfig{}));
  Config c;
  c.model = other;
  // Every line of the model section appears in the full configuration.
  std::istringstream lines(model_config_to_yaml(other));
  for (std::string line; std::getline(lines, line);)
    EXPECT_NE(config_to_yaml(c).find(line + "\n"), std::string::npos) << line;
}

// Only the keys of the model's type: adding conv_vae's keys left mlp_vae's text (and so
// its checkpoints) unchanged, and conv_vae's text names its own.
TEST(Config, ModelYamlHoldsTheKeysOfItsType) {
  ModelConfig conv;
  conv.type = "conv_vae";
  conv.channels = {16, 32};
  EXPECT_EQ(model_config_to_yaml(conv),
            "model:\n"
            "  type: conv_vae\n"
            "  channels: [16, 32]\n"
            "  strides: [2, 2]\n"
            "  latent: 32\n"
            "  activation: relu\n"
            "  likelihood: bernoulli\n");
  ModelConfig mlp;
  mlp.channels = {1, 2, 3};  // not a key of mlp_vae
  mlp.pseudo_inputs = 7;     // nor of the standard prior
  EXPECT_EQ(model_config_to_yaml(mlp), model_config_to_yaml(ModelConfig{}));
  mlp.prior = "vamp";
  EXPECT_NE(model_config_to_yaml(mlp).find("  prior: vamp\n  pseudo_inputs: 7\n"), std::string::npos);
}

TEST(Config, ModelYamlIgnoresOtherSections) {
  Config a, b;
  b.train.lr = 0.5f;
  b.data.train = "elsewhere";
  EXPECT_EQ(model_config_to_yaml(a.model), model_config_to_yaml(b.model));
}

TEST(Config, ShippedConfigsLoad) {
  const Config fashion = load_config(std::string(ELBO_SOURCE_DIR) + "/configs/fashion_mlp.yaml");
  EXPECT_EQ(fashion.data.train, "data/fashion/train/manifest.yaml");
  EXPECT_EQ(fashion.data.test, "data/fashion/test/manifest.yaml");
  EXPECT_EQ(fashion.data.binarize, "dynamic");
  EXPECT_EQ(fashion.model.hidden, (std::vector<int>{512, 256}));
  EXPECT_EQ(fashion.model.latent, 32);
  EXPECT_EQ(fashion.model.likelihood, "bernoulli");
  EXPECT_EQ(fashion.train.global_batch, 128);
  EXPECT_EQ(fashion.train.lr, 1e-3f);
  EXPECT_EQ(fashion.train.epochs, 10);
  EXPECT_EQ(fashion.train.log_every, 100);
  EXPECT_EQ(fashion.train.checkpoint_every, 1000);
  EXPECT_EQ(fashion.run.dir, "runs/fashion_mlp");

  const Config mnist = load_config(std::string(ELBO_SOURCE_DIR) + "/configs/mnist_mlp.yaml");
  EXPECT_EQ(mnist.data.train, "data/mnist/train/manifest.yaml");
  EXPECT_EQ(mnist.data.test, "data/mnist/test/manifest.yaml");
  EXPECT_EQ(mnist.run.dir, "runs/mnist_mlp");
  EXPECT_EQ(model_config_to_yaml(mnist.model), model_config_to_yaml(fashion.model));

  // Every shipped config is valid (each names the model and objective it demonstrates),
  // and its model builds for the 28x28 grey images of MNIST and Fashion-MNIST, which
  // every config trains on (a conv model's strides, say, must fit them).
  int count = 0;
  auto be = make_cpu_backend(1);
  for (const auto& entry : std::filesystem::directory_iterator(std::string(ELBO_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".yaml") continue;
    try {
      const Config config = load_config(entry.path().string());
      EXPECT_GT(make_model(config.model, Shape::images(1, 1, 28, 28), *be, config.run.seed)->params().total(), 0u)
          << entry.path();
    } catch (const Error& e) {
      ADD_FAILURE() << entry.path() << ": " << e.what();
    }
    ++count;
  }
  EXPECT_GE(count, 16);
  // A config for each model on MNIST and on Fashion-MNIST (issue 9).
  for (const char* model : {"mlp", "conv", "cvae", "vamp", "betatc"})
    for (const char* data : {"mnist", "fashion"})
      EXPECT_TRUE(std::filesystem::exists(std::string(ELBO_SOURCE_DIR) + "/configs/" + data + "_" + model + ".yaml"))
          << data << "_" << model << ".yaml";
  const Config betatc = load_config(std::string(ELBO_SOURCE_DIR) + "/configs/fashion_betatc.yaml");
  EXPECT_EQ(betatc.train.tc_beta, 6.0f);
  EXPECT_EQ(betatc.train.tc_batch, 32);
}

TEST(Config, DocsDescribeEveryKey) {
  const std::string docs = read_source_file("docs/config.md");
  ASSERT_FALSE(docs.empty());
  const YAML::Node root = YAML::Load(config_to_yaml(Config{}));
  for (const auto& section : root)
    for (const auto& key : section.second) {
      const std::string path = section.first.Scalar() + "." + key.first.Scalar();
      EXPECT_NE(docs.find("`" + path + "`"), std::string::npos) << path << " is missing from docs/config.md";
    }
}

}  // namespace
}  // namespace elbo
