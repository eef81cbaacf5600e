// Every class of config error, and that its message names the place (file:line or
// the --set override), the key, what was expected and what was found.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "elbo/config.h"
#include "elbo/error.h"
#include "support/synthetic_data.h"

namespace elbo {
namespace {

// The message of the elbo::Error that `action` throws; fails the test if none.
std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no elbo::Error was thrown";
  return "";
}

std::string parse_error(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return error_of([&] { parse_config(text, "cfg.yaml", overrides); });
}

// A valid base, so each override below is the only thing wrong.
std::string override_error(const std::string& override_text) {
  return parse_error("data:\n  train: d/manifest.yaml\n", {override_text});
}

#define EXPECT_HAS(message, fragment) \
  EXPECT_NE((message).find(fragment), std::string::npos) << "message: " << (message)

TEST(ConfigErrors, UnknownKeyNamesPathLineAndSuggestion) {
  const std::string m = parse_error("data:\n  train: x\ntrain:\n  epochs: 2\n  lrr: 0.1\n");
  EXPECT_HAS(m, "cfg.yaml:5:");
  EXPECT_HAS(m, "unknown key 'train.lrr'; did you mean 'train.lr'?");
}

TEST(ConfigErrors, KeyInTheWrongSectionSuggestsTheRightOne) {
  EXPECT_HAS(parse_error("train:\n  latent: 8\n"), "unknown key 'train.latent'; did you mean 'model.latent'?");
}

TEST(ConfigErrors, UnknownKeyWithNothingCloseHasNoSuggestion) {
  const std::string m = parse_error("model:\n  flux_capacitor: 1\n");
  EXPECT_HAS(m, "cfg.yaml:2: unknown key 'model.flux_capacitor'");
  EXPECT_EQ(m.find("did you mean"), std::string::npos) << m;
}

TEST(ConfigErrors, UnknownSectionSuggestsTheClosest) {
  EXPECT_HAS(parse_error("data: {train: x}\ntrian:\n  lr: 1\n"), "cfg.yaml:2: unknown section 'trian'; did you mean 'train'?");
  EXPECT_HAS(parse_error("optimizer: {}\n"), "unknown section 'optimizer' (the sections are run, data, model");
}

TEST(ConfigErrors, WrongTypesNameKeyLineExpectedAndFound) {
  EXPECT_HAS(parse_error("train:\n  lr: fast\n"), "cfg.yaml:2: key 'train.lr': expected a number, got 'fast'");
  EXPECT_HAS(parse_error("model:\n  hidden: 5\n"), "cfg.yaml:2: key 'model.hidden': expected a list of integers");
  EXPECT_HAS(parse_error("model:\n  hidden: 5\n"), "got '5'");
  EXPECT_HAS(parse_error("train:\n  epochs: 2.5\n"), "key 'train.epochs': expected an integer, got '2.5'");
  EXPECT_HAS(parse_error("run:\n  seed: -1\n"), "key 'run.seed': expected a non-negative integer, got '-1'");
  EXPECT_HAS(parse_error("data:\n  scale: maybe\n"), "key 'data.scale': expected a boolean");
  EXPECT_HAS(parse_error("data:\n  train: [a, b]\n"), "key 'data.train': expected a string, got a list");
  EXPECT_HAS(parse_error("model:\n  latent: {a: 1}\n"), "key 'model.latent': expected an integer, got a mapping");
  EXPECT_HAS(parse_error("model:\n  latent:\n"), "cfg.yaml:2: key 'model.latent': expected an integer, got nothing");
  EXPECT_HAS(parse_error("model:\n  latent: 3000000000\n"), "expected an integer in [-2147483648, 2147483647]");
  EXPECT_HAS(parse_error("train:\n  lr: 1e40\n"), "key 'train.lr': expected a number within the range of a 32-bit float");
}

TEST(ConfigErrors, BadListEntryNamesItsIndexAndLine) {
  const std::string m = parse_error("model:\n  hidden:\n    - 512\n    - big\n");
  EXPECT_HAS(m, "cfg.yaml:4: key 'model.hidden[1]': expected an integer, got 'big'");
}

TEST(ConfigErrors, OutOfRangeInTheFileNamesTheLine) {
  const std::string m = parse_error("data:\n  train: x\ntrain:\n  lr: -0.5\n");
  EXPECT_HAS(m, "cfg.yaml:4: key 'train.lr': expected > 0, got -0.5");
}

TEST(ConfigErrors, MissingTrainDataIsAnError) {
  EXPECT_HAS(parse_error("model: {latent: 4}\n"), "cfg.yaml: key 'data.train': expected a non-empty string");
  EXPECT_HAS(parse_error(""), "key 'data.train'");
}

// Each rule of the table, reached through an override so the message names it.
struct RangeCase {
  const char* override_text;
  const char* fragment;
};

void PrintTo(const RangeCase& c, std::ostream* os) { *os << "--set " << c.override_text; }

class ConfigRange : public ::testing::TestWithParam<RangeCase> {};

TEST_P(ConfigRange, ViolationNamesOverrideKeyAndExpectation) {
  const std::string m = override_error(GetParam().override_text);
  EXPECT_HAS(m, std::string("--set ") + GetParam().override_text + ": ");
  EXPECT_HAS(m, GetParam().fragment);
}

INSTANTIATE_TEST_SUITE_P(
    AllRules, ConfigRange,
    ::testing::Values(
        RangeCase{"train.lr=0", "key 'train.lr': expected > 0, got 0.0"},
        RangeCase{"train.lr=.inf", "key 'train.lr': expected a finite number > 0, got .inf"},
        RangeCase{"train.lr=.nan", "expected a finite number > 0, got .nan"},
        RangeCase{"train.beta1=1", "key 'train.beta1': expected a value in [0, 1), got 1.0"},
        RangeCase{"train.beta2=-0.1", "key 'train.beta2': expected a value in [0, 1)"},
        RangeCase{"train.eps=0", "key 'train.eps': expected > 0"},
        RangeCase{"train.global_batch=0", "key 'train.global_batch': expected >= 1, got 0"},
        RangeCase{"model.latent=0", "key 'model.latent': expected >= 1, got 0"},
        RangeCase{"model.hidden=[16, 0]", "key 'model.hidden[1]': expected >= 1, got 0"},
        RangeCase{"model.hidden=[]", "key 'model.hidden': expected a non-empty list"},
        RangeCase{"train.keep_checkpoints=0", "key 'train.keep_checkpoints': expected >= 1"},
        RangeCase{"train.log_every=0", "key 'train.log_every': expected >= 1"},
        RangeCase{"train.steps=-1", "key 'train.steps': expected >= 0, got -1"},
        RangeCase{"train.epochs=-2", "key 'train.epochs': expected >= 0, got -2"},
        RangeCase{"train.epochs=0", "'train.steps' and 'train.epochs' are both 0"},
        RangeCase{"train.checkpoint_every=-1", "key 'train.checkpoint_every': expected >= 0"},
        RangeCase{"train.sample_grid=33", "key 'train.sample_grid': expected a value in [0, 32], got 33"},
        RangeCase{"train.weight_decay=-1", "key 'train.weight_decay': expected >= 0"},
        RangeCase{"eval.iw_samples=5001", "key 'eval.iw_samples': expected a value in [1, 5000], got 5001"},
        RangeCase{"eval.iw_samples=0", "key 'eval.iw_samples': expected a value in [1, 5000], got 0"},
        RangeCase{"eval.iw_chunk=0", "key 'eval.iw_chunk': expected >= 1"},
        RangeCase{"eval.batch=0", "key 'eval.batch': expected >= 1"},
        RangeCase{"dist.bucket_mb=0", "key 'dist.bucket_mb': expected > 0"},
        RangeCase{"dist.timeout_s=-5", "key 'dist.timeout_s': expected > 0, got -5.0"},
        RangeCase{"data.memory_budget_mb=0", "key 'data.memory_budget_mb': expected >= 1"},
        RangeCase{"data.prefetch_batches=0", "key 'data.prefetch_batches': expected >= 1"},
        RangeCase{"data.threshold=1.5", "key 'data.threshold': expected a value in [0, 1], got 1.5"},
        RangeCase{"data.train=", "key 'data.train': expected a non-empty string"},
        RangeCase{"run.dir=''", "key 'run.dir': expected a non-empty string"},
        RangeCase{"data.binarize=yes", "key 'data.binarize': expected one of none|dynamic|threshold, got 'yes'"},
        RangeCase{"model.activation=mish",
                  "expected one of relu|tanh|leaky_relu|elu|sigmoid|swish|silu|softplus|gelu, got 'mish'"},
        RangeCase{"model.likelihood=poisson", "expected one of bernoulli|gaussian"},
        RangeCase{"model.type=nvae", "key 'model.type': expected one of mlp_vae|conv_vae|hvae, got 'nvae'"},
        RangeCase{"train.optimizer=sgd", "expected one of adam|adamw"},
        RangeCase{"train.metrics_format=xml", "expected one of jsonl|csv"},
        RangeCase{"train.device=tpu", "expected one of auto|cpu|cuda"},
        RangeCase{"train.precision=fp16", "expected one of fp32|tf32|bf16"},
        RangeCase{"dist.backend=gloo", "expected one of auto|mpi|nccl"}));

TEST(ConfigErrors, BoundaryValuesAreAccepted) {
  const Config c = parse_config("data: {train: x}\n", "cfg.yaml",
                                {"train.beta1=0", "data.threshold=1", "train.sample_grid=32", "train.sample_grid=0",
                                 "eval.iw_samples=5000", "train.steps=5", "train.epochs=0"});
  EXPECT_EQ(c.train.beta1, 0.0f);
  EXPECT_EQ(c.train.steps, 5);
}

TEST(ConfigErrors, OverrideWithUnknownKeyNamesTheOverride) {
  EXPECT_HAS(override_error("train.lrr=0.1"), "--set train.lrr=0.1: unknown key 'train.lrr'; did you mean 'train.lr'?");
  EXPECT_HAS(override_error("trian.lr=0.1"), "--set trian.lr=0.1: unknown key 'trian.lr'; did you mean 'train.lr'?");
}

TEST(ConfigErrors, MalformedOverrides) {
  EXPECT_HAS(override_error(""), "--set : expected section.key=value");
  EXPECT_HAS(override_error("train.lr"), "--set train.lr: expected section.key=value");
  EXPECT_HAS(override_error("lr=0.1"), "--set lr=0.1: expected section.key=value");
  EXPECT_HAS(override_error(".lr=0.1"), "expected section.key=value");
  EXPECT_HAS(override_error("train.=0.1"), "expected section.key=value");
  EXPECT_HAS(override_error("model.hidden=[1, 2"), "--set model.hidden=[1, 2: the value is not valid YAML");
  EXPECT_HAS(override_error("train.lr=fast"), "--set train.lr=fast: key 'train.lr': expected a number, got 'fast'");
}

TEST(ConfigErrors, DuplicateKeysAndSections) {
  EXPECT_HAS(parse_error("train:\n  lr: 1\n  lr: 2\n"), "cfg.yaml:3: duplicate key 'train.lr' (first set at line 2)");
  EXPECT_HAS(parse_error("train: {}\ndata: {}\ntrain: {}\n"), "cfg.yaml:3: duplicate section 'train'");
}

TEST(ConfigErrors, WrongDocumentShapes) {
  EXPECT_HAS(parse_error("- a\n- b\n"), "cfg.yaml:1: expected a mapping of sections");
  EXPECT_HAS(parse_error("train: 5\n"), "cfg.yaml:1: section 'train': expected a mapping of keys, got '5'");
  EXPECT_HAS(parse_error("data: {train: x}\n---\ntrain: {lr: 1}\n"), "cfg.yaml: expected one YAML document, found 2");
  // yaml-cpp 0.7's LoadAll never returns on these (it keeps adding empty documents until
  // memory runs out); found by tests/unit/test_input_mutations.cc.
  EXPECT_HAS(parse_error("\n,\n    "), "cfg.yaml: expected one YAML document, found 2 or more");
  EXPECT_HAS(parse_error("data: {train: x}\n,run: {dir: y}\n"), "cfg.yaml");
}

TEST(ConfigErrors, InvalidYamlNamesSourceLineAndColumn) {
  EXPECT_HAS(parse_error("data:\n  train: x\n model: 1\n"), "cfg.yaml:3:2: invalid YAML: ");
  EXPECT_HAS(parse_error("data:\n  train: x\nmodel:\n  hidden: [1, 2\n"), "invalid YAML: end of sequence flow not found");
}

TEST(ConfigErrors, FileErrorsNameTheFile) {
  EXPECT_HAS(error_of([] { load_config("/nonexistent/elbo/cfg.yaml"); }),
             "cannot open config file '/nonexistent/elbo/cfg.yaml'");
  EXPECT_HAS(error_of([] { load_config(::testing::TempDir()); }), "is a directory");
  const std::string dir = make_temp_dir("elbo_config_bad");  // its own: runs never share it
  const std::string path = dir + "/config.yaml";
  std::ofstream(path) << "data:\n  train: x\n  test: [unclosed\n";
  EXPECT_HAS(error_of([&] { load_config(path); }), path + ":");
  std::ofstream(path) << "data:\n  train: x\n  tset: y\n";
  EXPECT_HAS(error_of([&] { load_config(path); }), path + ":3: unknown key 'data.tset'; did you mean 'data.test'?");
  std::filesystem::remove_all(dir);
}

TEST(ConfigErrors, ValidateConfigNamesTheSource) {
  Config c;
  EXPECT_HAS(error_of([&] { validate_config(c, "built-in"); }), "built-in: key 'data.train'");
  c.data.train = "x";
  EXPECT_NO_THROW(validate_config(c, "built-in"));
  c.train.lr = -1;
  EXPECT_HAS(error_of([&] { validate_config(c, "built-in"); }), "built-in: key 'train.lr': expected > 0, got -1.0");
}

}  // namespace
}  // namespace elbo
