// The key table (see config_fields.h). Ranges and choices here are the single source
// of truth for validation; docs/config.md restates them for users.
#include "config_fields.h"

#include <algorithm>

namespace elbo::config_detail {
namespace {

// One instantiation per key: returns the address of (config.*Section).*Member, typed.
template <auto Section, auto Member>
FieldRef bind_member(Config& c) {
  return &((c.*Section).*Member);
}

#define ELBO_KEY(sec, key, rule) \
  Field { #sec, #key, &bind_member<&Config::sec, &decltype(Config::sec)::key>, rule }

std::vector<Field> make_fields() {
  return {
      ELBO_KEY(run, dir, non_empty()),
      ELBO_KEY(run, seed, any()),

      ELBO_KEY(data, train, non_empty()),
      ELBO_KEY(data, test, any()),
      ELBO_KEY(data, valid, any()),
      ELBO_KEY(data, binarize, one_of({"none", "dynamic", "threshold"})),
      ELBO_KEY(data, threshold, closed(0, 1)),
      ELBO_KEY(data, scale, any()),
      ELBO_KEY(data, memory_budget_mb, at_least(1)),
      ELBO_KEY(data, prefetch_batches, at_least(1)),

      ELBO_KEY(model, type, one_of({"mlp_vae", "conv_vae", "hvae"})),
      ELBO_KEY(model, hidden, non_empty_list_of(at_least(1))),
      ELBO_KEY(model, channels, non_empty_list_of(at_least(1))),
      ELBO_KEY(model, strides, non_empty_list_of(closed(1, 2))),
      ELBO_KEY(model, latent, at_least(1)),
      ELBO_KEY(model, latents, non_empty_list_of(at_least(1))),
      ELBO_KEY(model, group_hidden, non_empty_list_of(at_least(1))),
      ELBO_KEY(model, group_depth, at_least(1)),
      ELBO_KEY(model, posterior, one_of({"merge", "residual"})),
      ELBO_KEY(model, group_type, one_of({"mlp", "conv"})),
      ELBO_KEY(model, group_scale, non_empty_list_of(at_least(1))),
      ELBO_KEY(model, logvar_clamp, at_least(0)),
      ELBO_KEY(model, sigma_floor, at_least(0)),
      ELBO_KEY(model, activation, one_of({"relu", "tanh", "leaky_relu", "elu", "sigmoid", "swish", "silu", "softplus", "gelu"})),
      ELBO_KEY(model, likelihood, one_of({"bernoulli", "gaussian", "discretized_logistic"})),
      ELBO_KEY(model, gaussian_sigma, at_least(0)),
      ELBO_KEY(model, conditional, any()),
      ELBO_KEY(model, classes, at_least(2)),
      ELBO_KEY(model, prior, one_of({"standard", "vamp"})),
      ELBO_KEY(model, pseudo_inputs, at_least(1)),

      ELBO_KEY(train, global_batch, at_least(1)),
      ELBO_KEY(train, steps, at_least(0)),
      ELBO_KEY(train, epochs, at_least(0)),
      ELBO_KEY(train, optimizer, one_of({"adam", "adamw", "adamax"})),
      ELBO_KEY(train, lr, above(0)),
      ELBO_KEY(train, lr_schedule, one_of({"constant", "cosine", "step"})),
      ELBO_KEY(train, lr_warmup_steps, at_least(0)),
      ELBO_KEY(train, lr_min, at_least(0)),
      ELBO_KEY(train, lr_decay_every, at_least(1)),
      ELBO_KEY(train, lr_decay_gamma, closed(0, 1)),
      ELBO_KEY(train, beta1, half_open(0, 1)),
      ELBO_KEY(train, beta2, half_open(0, 1)),
      ELBO_KEY(train, eps, above(0)),
      ELBO_KEY(train, weight_decay, at_least(0)),
      ELBO_KEY(train, grad_clip, at_least(0)),
      ELBO_KEY(train, skip_threshold, at_least(0)),
      ELBO_KEY(train, nonfinite, one_of({"skip", "stop"})),
      ELBO_KEY(train, skip_alarm_share, closed(0, 1)),
      ELBO_KEY(train, ema_decay, half_open(0, 1)),
      ELBO_KEY(train, objective, one_of({"elbo", "iwae"})),
      ELBO_KEY(train, iw_samples, closed(1, 5000)),
      ELBO_KEY(train, beta, at_least(0)),
      ELBO_KEY(train, kl_warmup_steps, at_least(0)),
      ELBO_KEY(train, kl_cycle_steps, at_least(0)),
      ELBO_KEY(train, kl_cycle_ramp, closed(0, 1)),
      ELBO_KEY(train, free_bits, at_least(0)),
      ELBO_KEY(train, free_bits_per, one_of({"dim", "group"})),
      ELBO_KEY(train, kl_balance, any()),
      ELBO_KEY(train, tc_beta, at_least(0)),
      ELBO_KEY(train, tc_batch, at_least(0)),
      ELBO_KEY(train, log_every, at_least(1)),
      ELBO_KEY(train, checkpoint_every, at_least(0)),
      ELBO_KEY(train, checkpoint_minutes, at_least(0)),
      ELBO_KEY(train, valid_every, at_least(0)),
      ELBO_KEY(train, valid_images, at_least(0)),
      ELBO_KEY(train, keep_checkpoints, at_least(1)),
      ELBO_KEY(train, metrics_format, one_of({"jsonl", "csv"})),
      ELBO_KEY(train, sample_grid, closed(0, 32)),
      ELBO_KEY(train, device, one_of({"auto", "cpu", "cuda"})),
      ELBO_KEY(train, precision, one_of({"fp32", "tf32", "bf16"})),
      ELBO_KEY(train, cuda_graph, any()),
      ELBO_KEY(train, recompute, any()),

      ELBO_KEY(dist, backend, one_of({"auto", "mpi", "nccl"})),
      ELBO_KEY(dist, bucket_mb, above(0)),
      ELBO_KEY(dist, timeout_s, above(0)),
      ELBO_KEY(dist, peer_timeout_s, at_least(0)),
      ELBO_KEY(dist, replica_check_every, at_least(0)),
      ELBO_KEY(dist, zero, any()),

      ELBO_KEY(eval, batch, at_least(1)),
      ELBO_KEY(eval, iw_samples, closed(1, 5000)),
      ELBO_KEY(eval, iw_chunk, at_least(1)),
      ELBO_KEY(eval, max_images, at_least(0)),
  };
}
#undef ELBO_KEY

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above_cell = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above_cell;
    }
  }
  return row[b.size()];
}

// A typo is "close" when it is a few edits away; longer names tolerate more edits.
bool close_enough(size_t distance, std::string_view typed) {
  return distance <= std::max<size_t>(2, typed.size() / 4);
}

}  // namespace

Rule any() { return {}; }

Rule at_least(double lo) {
  Rule r;
  r.kind = Rule::Kind::kRange;
  r.has_lo = true;
  r.lo = lo;
  return r;
}

Rule above(double lo) {
  Rule r = at_least(lo);
  r.lo_open = true;
  return r;
}

Rule closed(double lo, double hi) {
  Rule r = at_least(lo);
  r.has_hi = true;
  r.hi = hi;
  return r;
}

Rule half_open(double lo, double hi) {
  Rule r = closed(lo, hi);
  r.hi_open = true;
  return r;
}

Rule one_of(std::initializer_list<std::string_view> choices) {
  Rule r;
  r.kind = Rule::Kind::kOneOf;
  r.choices = choices;
  return r;
}

Rule non_empty() {
  Rule r;
  r.kind = Rule::Kind::kNonEmpty;
  return r;
}

Rule non_empty_list_of(Rule entries) {
  entries.non_empty = true;
  return entries;
}

const std::vector<Field>& fields() {
  static const std::vector<Field> table = make_fields();
  return table;
}

const std::vector<std::string_view>& sections() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const Field& f : fields())
      if (out.empty() || out.back() != f.section) out.push_back(f.section);
    return out;
  }();
  return names;
}

const Field* find_field(std::string_view section, std::string_view key) {
  for (const Field& f : fields())
    if (f.section == section && f.key == key) return &f;
  return nullptr;
}

bool is_section(std::string_view section) {
  const auto& names = sections();
  return std::find(names.begin(), names.end(), section) != names.end();
}

std::string suggest_key(std::string_view dotted_path) {
  const size_t dot = dotted_path.find('.');
  const std::string_view key = dot == std::string_view::npos ? dotted_path : dotted_path.substr(dot + 1);
  // The right key in the wrong section ("train.latent") is the likeliest mistake.
  for (const Field& f : fields())
    if (f.key == key) return f.path();
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const Field& f : fields()) {
    const size_t d = edit_distance(dotted_path, f.path());
    if (d < best_distance) best_distance = d, best = f.path();
  }
  return close_enough(best_distance, dotted_path) ? best : "";
}

std::string suggest_section(std::string_view section) {
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (std::string_view name : sections()) {
    const size_t d = edit_distance(section, name);
    if (d < best_distance) best_distance = d, best = std::string(name);
  }
  return close_enough(best_distance, section) ? best : "";
}

std::string type_name(const FieldRef& ref) {
  struct Namer {
    std::string operator()(std::string*) const { return "a string"; }
    std::string operator()(bool*) const { return "a boolean (true or false)"; }
    std::string operator()(int*) const { return "an integer"; }
    std::string operator()(int64_t*) const { return "an integer"; }
    std::string operator()(uint64_t*) const { return "a non-negative integer"; }
    std::string operator()(float*) const { return "a number"; }
    std::string operator()(double*) const { return "a number"; }
    std::string operator()(std::vector<int>*) const { return "a list of integers, e.g. [512, 256]"; }
  };
  return std::visit(Namer{}, ref);
}

}  // namespace elbo::config_detail
