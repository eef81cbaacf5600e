// config_to_yaml / model_config_to_yaml: every key of the table, in table order, one
// per line, written by hand rather than by YAML::Emitter so that the text is fixed
// byte for byte (a checkpoint compares the model section as text) and every number
// round-trips exactly (config_scalars.h).
#include <sstream>

#include "config_fields.h"
#include "config_scalars.h"
#include "elbo/config.h"

namespace elbo {
namespace config_detail {

std::string value_text(const FieldRef& ref) {
  struct Writer {
    std::string operator()(const std::string* v) const { return format_string(*v); }
    std::string operator()(const bool* v) const { return *v ? "true" : "false"; }
    std::string operator()(const int* v) const { return std::to_string(*v); }
    std::string operator()(const int64_t* v) const { return std::to_string(*v); }
    std::string operator()(const uint64_t* v) const { return std::to_string(*v); }
    std::string operator()(const float* v) const { return format_float(*v); }
    std::string operator()(const double* v) const { return format_double(*v); }
    std::string operator()(const std::vector<int>* v) const {
      std::string out = "[";
      for (size_t i = 0; i < v->size(); ++i) out += (i ? ", " : "") + std::to_string((*v)[i]);
      return out + "]";
    }
  };
  return std::visit(Writer{}, ref);
}

namespace {

// Keys of one model type only: a checkpoint's model section lists just the keys of its
// type, so adding keys for another type (conv_vae's channels) leaves the checkpoints of
// existing types comparable, byte for byte.
bool model_key_applies(const ModelConfig& m, std::string_view key) {
  if (key == "hidden") return m.type == "mlp_vae";
  if (key == "channels" || key == "strides") return m.type == "conv_vae";
  if (key == "latents" || key == "group_hidden" || key == "group_depth" || key == "posterior") return m.type == "hvae";
  // The MLP groups are written as nothing, so checkpoints from before the conv groups match.
  if (key == "group_type") return m.type == "hvae" && m.group_type != "mlp";
  if (key == "group_scale") return m.type == "hvae" && m.group_type == "conv";
  if (key == "logvar_clamp" || key == "sigma_floor") return m.type == "hvae";
  // A learned sigma is written as nothing, so checkpoints from before the fixed one match.
  if (key == "gaussian_sigma") return m.gaussian_sigma != 0.0f;
  if (key == "latent") return m.type != "hvae";  // hvae sizes its groups with model.latents
  if (key == "conditional" || key == "classes") return m.conditional;
  // The standard prior is written as nothing, so checkpoints from before the VampPrior match.
  if (key == "prior" || key == "pseudo_inputs") return m.prior != "standard";
  return true;
}

std::string sections_to_yaml(const Config& config, std::string_view only_section) {
  std::ostringstream out;
  std::string_view current;
  for (const Field& f : fields()) {
    if (!only_section.empty() && f.section != only_section) continue;
    if (only_section == "model" && !model_key_applies(config.model, f.key)) continue;
    if (f.section != current) {
      if (!current.empty()) out << "\n";
      out << f.section << ":\n";
      current = f.section;
    }
    out << "  " << f.key << ": " << value_text(f.ref(config)) << "\n";
  }
  return out.str();
}

}  // namespace
}  // namespace config_detail

std::string config_to_yaml(const Config& config) {
  return config_detail::sections_to_yaml(config, "");
}

std::string model_config_to_yaml(const ModelConfig& model) {
  Config holder;
  holder.model = model;
  return config_detail::sections_to_yaml(holder, "model");
}

}  // namespace elbo
