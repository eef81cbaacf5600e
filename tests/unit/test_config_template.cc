// `elbo config template`: every key of the table has a one-line description and appears
// in the template with its default; the template parses back to the defaults (data.train
// being its placeholder), for each model type; an unknown model type is refused.
#include <gtest/gtest.h>

#include "../../src/config/config_fields.h"
#include "elbo/config.h"
#include "elbo/config_template.h"
#include "elbo/error.h"

namespace elbo {
namespace {

TEST(ConfigTemplate, EveryKeyHasADescriptionAndALine) {
  const std::string text = config_template();
  for (const config_detail::Field& f : config_detail::fields()) {
    EXPECT_FALSE(config_key_description(f.path()).empty())
        << f.path() << " has no description in src/config/config_template.cc";
    const std::string line = "  " + std::string(f.key) + ": ";
    EXPECT_NE(text.find(line), std::string::npos) << f.path() << " is missing from the template";
  }
}

TEST(ConfigTemplate, ParsesBackToTheDefaults) {
  const Config parsed = parse_config(config_template(), "template");
  Config expected;
  expected.data.train = parsed.data.train;
  EXPECT_FALSE(parsed.data.train.empty());
  EXPECT_EQ(config_to_yaml(parsed), config_to_yaml(expected));
}

TEST(ConfigTemplate, EachModelTypeParsesBack) {
  for (std::string_view type : config_detail::find_field("model", "type")->rule.choices) {
    const Config parsed = parse_config(config_template(std::string(type)), "template " + std::string(type));
    EXPECT_EQ(parsed.model.type, type);
  }
}

TEST(ConfigTemplate, UnknownModelTypeNamesTheKnownOnes) {
  try {
    config_template("transformer");
    FAIL() << "accepted an unknown model type";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mlp_vae"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace elbo
