// validate_config: each key's Rule from the table, then the few rules that relate
// keys to each other. Messages say what was expected and what was found.
#include "config_validate.h"

#include <cmath>

#include "config_fields.h"
#include "config_scalars.h"
#include "elbo/error.h"

namespace elbo {
namespace config_detail {
namespace {

// Bounds of integer keys read better without a fraction: ">= 1", not ">= 1.0".
std::string bound_text(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  return format_double(v);
}

std::string range_text(const Rule& r) {
  if (r.has_lo && r.has_hi)
    return std::string("a value in ") + (r.lo_open ? "(" : "[") + bound_text(r.lo) + ", " +
           bound_text(r.hi) + (r.hi_open ? ")" : "]");
  if (r.has_lo) return std::string(r.lo_open ? "> " : ">= ") + bound_text(r.lo);
  return std::string(r.hi_open ? "< " : "<= ") + bound_text(r.hi);
}

bool in_range(const Rule& r, double v) {
  if (!std::isfinite(v)) return false;
  if (r.has_lo && (r.lo_open ? !(v > r.lo) : !(v >= r.lo))) return false;
  if (r.has_hi && (r.hi_open ? !(v < r.hi) : !(v <= r.hi))) return false;
  return true;
}

// Checks one number; `is_float` words the message for non-finite values.
std::optional<std::string> check_number(const Rule& r, double v, const std::string& shown, bool is_float) {
  if (in_range(r, v)) return std::nullopt;
  return std::string("expected ") + (is_float && !std::isfinite(v) ? "a finite number " : "") +
         range_text(r) + ", got " + shown;
}

std::optional<Violation> check_field(const Field& f, const Config& config) {
  const Rule& rule = f.rule;
  const FieldRef ref = f.ref(config);
  const std::string path = f.path();
  auto violation = [&](const std::string& key, const std::string& what) {
    return Violation{{path}, "key '" + key + "': " + what};
  };
  switch (rule.kind) {
    case Rule::Kind::kAny:
      return std::nullopt;
    case Rule::Kind::kNonEmpty: {
      if (auto* s = std::get_if<std::string*>(&ref); s && (*s)->empty())
        return violation(path, "expected a non-empty string (the key is required)");
      if (auto* l = std::get_if<std::vector<int>*>(&ref); l && (*l)->empty())
        return violation(path, "expected a non-empty list, got []");
      return std::nullopt;
    }
    case Rule::Kind::kOneOf: {
      const std::string& value = **std::get_if<std::string*>(&ref);
      std::string allowed;
      for (std::string_view c : rule.choices) {
        if (c == value) return std::nullopt;
        allowed += (allowed.empty() ? "" : "|") + std::string(c);
      }
      return violation(path, "expected one of " + allowed + ", got '" + value + "'");
    }
    case Rule::Kind::kRange:
      break;
  }
  if (auto* list = std::get_if<std::vector<int>*>(&ref)) {
    if (rule.non_empty && (*list)->empty()) return violation(path, "expected a non-empty list, got []");
    for (size_t i = 0; i < (*list)->size(); ++i) {
      const int v = (**list)[i];
      if (auto bad = check_number(rule, v, std::to_string(v), false))
        return violation(path + "[" + std::to_string(i) + "]", *bad);
    }
    return std::nullopt;
  }
  const bool is_float = std::holds_alternative<float*>(ref) || std::holds_alternative<double*>(ref);
  const double value = std::visit(
      [](auto* p) -> double {
        using T = std::remove_cv_t<std::remove_pointer_t<decltype(p)>>;
        if constexpr (std::is_arithmetic_v<T>) return static_cast<double>(*p);
        else return 0.0;  // strings and lists never carry a range rule (table invariant)
      },
      ref);
  if (auto bad = check_number(rule, value, value_text(ref), is_float)) return violation(path, *bad);
  return std::nullopt;
}

}  // namespace

// The objective's keys that contradict each other (train/objective.h).
static std::optional<Violation> objective_violation(const TrainConfig& t, const ModelConfig& m) {
  if (t.objective == "iwae") {
    // The bound weighs p(x, z) / q(z|x) as a whole: there is no KL term to reweight.
    if (t.beta != 1.0f)
      return Violation{{"train.beta", "train.objective"},
                       "key 'train.beta' is " + format_double(t.beta) +
                           " but train.objective is iwae, whose bound has no separate KL term to weight "
                           "(use train.objective: elbo for a beta-VAE)"};
    // A warm-up weighs the log-weights' log p(z) - log q(z|x) (nn/importance_bound.h);
    // cycles would take the trained bound away from the IWAE bound again and again.
    if (t.kl_cycle_steps > 0)
      return Violation{{"train.kl_cycle_steps", "train.objective"},
                       "key 'train.kl_cycle_steps' cycles the KL term of train.objective: elbo, but "
                       "train.objective is iwae (which takes train.kl_warmup_steps, a warm-up of its "
                       "log-weights' log p(z) - log q(z|x))"};
    if (t.free_bits > 0.0f)
      return Violation{{"train.free_bits", "train.objective"},
                       "key 'train.free_bits' applies to train.objective: elbo, but train.objective is iwae"};
  } else if (t.iw_samples != 1) {
    return Violation{{"train.iw_samples", "train.objective"},
                     "key 'train.iw_samples' is " + std::to_string(t.iw_samples) +
                         " but train.objective is elbo (one sample per image): set train.objective: iwae to train "
                         "on the k-sample bound"};
  }
  if (t.free_bits > 0.0f && m.prior == "vamp")
    return Violation{{"train.free_bits", "model.prior"},
                     "key 'train.free_bits' gates the KL of each latent dimension against N(0, 1), but model.prior is "
                     "vamp, whose KL does not split into dimensions"};
  if (t.free_bits_per == "group" && m.type != "hvae")
    return Violation{{"train.free_bits_per", "model.type"},
                     "key 'train.free_bits_per' is group, which needs stochastic groups (model.type: hvae); model.type "
                     "is " + m.type + " (use dim)"};
  if (t.kl_balance && m.type != "hvae")
    return Violation{{"train.kl_balance", "model.type"},
                     "key 'train.kl_balance' balances the KL of stochastic groups (model.type: hvae); model.type is " +
                         m.type};
  if (t.kl_balance && (t.objective != "elbo" || (t.kl_warmup_steps == 0 && t.kl_cycle_steps == 0)))
    return Violation{{"train.kl_balance", t.objective != "elbo" ? "train.objective" : "train.kl_warmup_steps"},
                     "key 'train.kl_balance' acts while the KL weight ramps up (NVAE): it needs train.objective: "
                     "elbo and train.kl_warmup_steps (or train.kl_cycle_steps) > 0"};
  if (t.tc_beta != 1.0f && (t.objective != "elbo" || m.type == "hvae"))
    return Violation{{"train.tc_beta", t.objective != "elbo" ? "train.objective" : "model.type"},
                     "key 'train.tc_beta' is " + format_double(t.tc_beta) +
                         ": beta-TCVAE's total correlation is a term of train.objective: elbo for a single-latent "
                         "model (mlp_vae, conv_vae), but " +
                         (t.objective != "elbo" ? "train.objective is " + t.objective : "model.type is hvae")};
  if (t.tc_batch > 0 && t.tc_beta == 1.0f)
    return Violation{{"train.tc_batch", "train.tc_beta"},
                     "key 'train.tc_batch' sizes beta-TCVAE's estimate of q(z), but train.tc_beta is 1 (off)"};
  if (t.tc_batch > 0 && t.global_batch % t.tc_batch != 0)
    return Violation{{"train.tc_batch", "train.global_batch"},
                     "key 'train.tc_batch' is " + std::to_string(t.tc_batch) + ", which does not divide " +
                         "train.global_batch " + std::to_string(t.global_batch)};
  if (t.kl_warmup_steps > 0 && t.kl_cycle_steps > 0)
    return Violation{{"train.kl_warmup_steps", "train.kl_cycle_steps"},
                     "keys 'train.kl_warmup_steps' and 'train.kl_cycle_steps' are both set: choose one KL schedule"};
  return std::nullopt;
}

// hvae: one width per stochastic group; no conditional variant (models/hvae.h).
static std::optional<Violation> hvae_violation(const ModelConfig& m) {
  if (m.type != "hvae") return std::nullopt;
  if (m.group_hidden.size() != m.latents.size())
    return Violation{{"model.group_hidden", "model.latents"},
                     "key 'model.group_hidden' lists " + std::to_string(m.group_hidden.size()) +
                         " widths but model.latents has " + std::to_string(m.latents.size()) +
                         " groups: give one width per group, top group first"};
  if (m.group_type == "conv") {
    if (m.group_scale.size() != m.latents.size())
      return Violation{{"model.group_scale", "model.latents"},
                       "key 'model.group_scale' lists " + std::to_string(m.group_scale.size()) +
                           " scales but model.latents has " + std::to_string(m.latents.size()) +
                           " groups: give one downsampling factor per group, top group first"};
    for (size_t l = 0; l < m.group_scale.size(); ++l) {
      const int s = m.group_scale[l];
      if (s & (s - 1))
        return Violation{{"model.group_scale"}, "key 'model.group_scale' has " + std::to_string(s) + " at group " +
                                                    std::to_string(l) + ": each scale is a power of 2 (1, 2, 4, ..)"};
      if (l > 0 && s > m.group_scale[l - 1])
        return Violation{{"model.group_scale"},
                         "key 'model.group_scale' goes from " + std::to_string(m.group_scale[l - 1]) + " to " +
                             std::to_string(s) + " at group " + std::to_string(l) +
                             ": scales never grow from the top group (coarsest) down to the bottom (finest)"};
    }
  }
  if (m.conditional)
    return Violation{{"model.conditional", "model.type"}, "key 'model.conditional' is true but model.type hvae has "
                                                          "no conditional variant yet"};
  return std::nullopt;
}

std::optional<Violation> first_violation(const Config& config) {
  for (const Field& f : fields())
    if (auto v = check_field(f, config)) return v;
  if (auto v = hvae_violation(config.model)) return v;
  if (config.train.steps == 0 && config.train.epochs == 0)
    return Violation{{"train.steps", "train.epochs"},
                     "keys 'train.steps' and 'train.epochs' are both 0: set one of them "
                     "(steps > 0 takes precedence over epochs)"};
  if (config.model.prior == "vamp" && config.model.conditional)
    return Violation{{"model.prior", "model.conditional"},
                     "key 'model.prior' is vamp, which is not available for conditional models (model.conditional: "
                     "true): the pseudo-inputs have no class"};
  if (config.model.prior == "vamp" && config.model.type == "hvae")
    return Violation{{"model.prior", "model.type"}, "key 'model.prior': vamp is available for mlp_vae and conv_vae"};
  if (config.model.gaussian_sigma > 0.0f && config.model.likelihood != "gaussian")
    return Violation{{"model.gaussian_sigma", "model.likelihood"},
                     "key 'model.gaussian_sigma' fixes the standard deviation of a Gaussian likelihood, but "
                     "model.likelihood is " + config.model.likelihood};
  // The discretized logistic is a distribution over the 256 values of 8-bit pixels.
  if (config.model.likelihood == "discretized_logistic" && (config.data.binarize != "none" || !config.data.scale))
    return Violation{{"model.likelihood", config.data.binarize != "none" ? "data.binarize" : "data.scale"},
                     "key 'model.likelihood' is discretized_logistic, a distribution over 8-bit values scaled to "
                     "[0, 1]: it needs data.binarize: none and data.scale: true"};
  return objective_violation(config.train, config.model);
}

}  // namespace config_detail

void validate_config(const Config& config, const std::string& source) {
  if (auto v = config_detail::first_violation(config)) ELBO_FAIL(source << ": " << v->message);
}

}  // namespace elbo
