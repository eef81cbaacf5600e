// Range, choice and cross-key checks over the key table (config_fields.h).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "elbo/config.h"

namespace elbo::config_detail {

struct Violation {
  // The keys at fault ("train.lr"), to point at where one of them was set; a rule
  // relating two keys names both.
  std::vector<std::string> paths;
  std::string message;  // "key 'train.lr': expected > 0, got -1.0"
};

// The first violated rule, in table order, then the cross-key rules; nullopt if none.
std::optional<Violation> first_violation(const Config& config);

}  // namespace elbo::config_detail
