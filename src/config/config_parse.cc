// parse_config / load_config: YAML text -> Config through the key table. The file's
// keys are applied first, then the --set overrides in order, then validation. We
// remember where each key was last set (file:line or the override) so that a range
// error points at the line the user has to edit.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "config_fields.h"
#include "config_scalars.h"
#include "config_validate.h"
#include "elbo/config.h"
#include "elbo/error.h"

namespace elbo {
namespace config_detail {
namespace {

// Where a value came from, for messages: "file.yaml:12" or "--set train.lr=3e-4".
struct Where {
  std::string source;    // the file's name, or "--set <override>"
  int line = -1;         // 0-based line of the key in the file
  bool in_file = true;   // false: an override, whose value's own lines mean nothing

  std::string at(const YAML::Node* node = nullptr) const {
    // An empty value's mark points past the key's line; the key's line is the one to edit.
    const bool own_line = node && !node->IsNull() && !node->Mark().is_null();
    const int l = own_line ? node->Mark().line : line;
    return in_file && l >= 0 ? source + ":" + std::to_string(l + 1) : source;
  }
};

// path -> where it was last set; validation errors are reported there.
using Origins = std::map<std::string, std::string>;

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "'" + node.Scalar() + "'";
}

// Writes one YAML value into the member a key binds, or fails naming key, place,
// expected type and the value found.
class Assigner {
 public:
  Assigner(const Field& field, FieldRef ref, const YAML::Node& node, const Where& where)
      : field_(field), ref_(ref), node_(node), where_(where) {}

  void operator()(std::string* v) const {
    if (node_.IsNull()) *v = "";  // "test:" with no value: no test set
    else *v = scalar();
  }
  void operator()(bool* v) const { *v = parsed(parse_bool(scalar())); }
  void operator()(int* v) const {
    const int64_t wide = parsed(parse_int64(scalar()));
    if (wide < std::numeric_limits<int>::min() || wide > std::numeric_limits<int>::max())
      fail(node_, field_.path(), "an integer in [-2147483648, 2147483647]");
    *v = static_cast<int>(wide);
  }
  void operator()(int64_t* v) const { *v = parsed(parse_int64(scalar())); }
  void operator()(uint64_t* v) const { *v = parsed(parse_uint64(scalar())); }
  void operator()(float* v) const {
    const std::string text = scalar();
    // A number that only fails because a float cannot hold it deserves its own words.
    if (!parse_float(text) && parse_double(text))
      fail(node_, field_.path(), "a number within the range of a 32-bit float");
    *v = parsed(parse_float(text));
  }
  void operator()(double* v) const { *v = parsed(parse_double(scalar())); }
  void operator()(std::vector<int>* v) const {
    if (!node_.IsSequence()) fail(node_, field_.path(), type_name(ref_));
    std::vector<int> out;
    for (size_t i = 0; i < node_.size(); ++i) {
      const YAML::Node entry = node_[i];
      const std::string key = field_.path() + "[" + std::to_string(i) + "]";
      const auto value = entry.IsScalar() ? parse_int64(entry.Scalar()) : std::nullopt;
      if (!value || *value < std::numeric_limits<int>::min() || *value > std::numeric_limits<int>::max())
        fail(entry, key, "an integer");
      out.push_back(static_cast<int>(*value));
    }
    *v = std::move(out);
  }

 private:
  [[noreturn]] void fail(const YAML::Node& node, const std::string& key, const std::string& expected) const {
    ELBO_FAIL(where_.at(&node) << ": key '" << key << "': expected " << expected << ", got " << describe(node));
  }
  std::string scalar() const {
    if (!node_.IsScalar()) fail(node_, field_.path(), type_name(ref_));
    return node_.Scalar();
  }
  template <typename T>
  T parsed(const std::optional<T>& value) const {
    if (!value) fail(node_, field_.path(), type_name(ref_));
    return *value;
  }

  const Field& field_;
  FieldRef ref_;
  const YAML::Node& node_;
  const Where& where_;
};

void assign(const Field& field, const YAML::Node& value, Config& config, const Where& where) {
  const FieldRef ref = field.ref(config);
  std::visit(Assigner(field, ref, value, where), ref);
}

std::string unknown_key_message(const std::string& path) {
  const std::string suggestion = suggest_key(path);
  if (!suggestion.empty()) return "unknown key '" + path + "'; did you mean '" + suggestion + "'?";
  return "unknown key '" + path + "' (docs/config.md lists every key)";
}

std::string unknown_section_message(const std::string& section) {
  const std::string suggestion = suggest_section(section);
  if (!suggestion.empty()) return "unknown section '" + section + "'; did you mean '" + suggestion + "'?";
  std::string known;
  for (std::string_view s : sections()) known += (known.empty() ? "" : ", ") + std::string(s);
  return "unknown section '" + section + "' (the sections are " + known + ")";
}

// Map keys must be plain names; returns the name or fails at the key's line.
std::string key_name(const YAML::Node& key, const Where& where, const char* what) {
  if (!key.IsScalar()) ELBO_FAIL(where.at(&key) << ": expected " << what << ", got " << describe(key));
  return key.Scalar();
}

void apply_section(const std::string& section, const YAML::Node& body, Config& config,
                   const std::string& source, Origins& origins) {
  std::map<std::string, int> seen;  // key -> 0-based line, to refuse duplicates
  for (const auto& item : body) {
    Where where{source, item.first.Mark().line};
    const std::string key = key_name(item.first, where, "a key name");
    const std::string path = section + "." + key;
    if (auto [it, fresh] = seen.emplace(key, where.line); !fresh)
      ELBO_FAIL(where.at() << ": duplicate key '" << path << "' (first set at line " << it->second + 1 << ")");
    const Field* field = find_field(section, key);
    if (!field) ELBO_FAIL(where.at() << ": " << unknown_key_message(path));
    assign(*field, item.second, config, where);
    origins[path] = where.at();
  }
}

void apply_document(const YAML::Node& root, const std::string& source, Config& config, Origins& origins) {
  if (root.IsNull()) return;  // an empty file: every default (validation decides)
  if (!root.IsMap()) {
    Where where{source, root.Mark().line};
    ELBO_FAIL(where.at() << ": expected a mapping of sections (run, data, model, train, dist, eval), got "
                         << describe(root));
  }
  std::map<std::string, int> seen;
  for (const auto& item : root) {
    Where where{source, item.first.Mark().line};
    const std::string section = key_name(item.first, where, "a section name");
    if (auto [it, fresh] = seen.emplace(section, where.line); !fresh)
      ELBO_FAIL(where.at() << ": duplicate section '" << section << "' (first at line " << it->second + 1 << ")");
    if (!is_section(section)) ELBO_FAIL(where.at() << ": " << unknown_section_message(section));
    if (item.second.IsNull()) continue;  // "eval:" with nothing under it
    if (!item.second.IsMap())
      ELBO_FAIL(where.at() << ": section '" << section << "': expected a mapping of keys, got "
                           << describe(item.second));
    apply_section(section, item.second, config, source, origins);
  }
}

std::string trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

void apply_override(const std::string& text, Config& config, Origins& origins) {
  const Where where{"--set " + text, -1, false};
  const size_t eq = text.find('=');
  const std::string path = trim(text.substr(0, eq));
  const size_t dot = path.find('.');
  ELBO_CHECK(eq != std::string::npos && dot != std::string::npos && dot > 0 && dot + 1 < path.size(),
             where.at() << ": expected section.key=value, e.g. --set train.lr=3e-4");
  const Field* field = find_field(path.substr(0, dot), path.substr(dot + 1));
  if (!field) ELBO_FAIL(where.at() << ": " << unknown_key_message(path));
  YAML::Node value;
  try {
    value = YAML::Load(text.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    ELBO_FAIL(where.at() << ": the value is not valid YAML: " << e.msg);
  }
  assign(*field, value, config, where);
  origins[field->path()] = where.at();
}

}  // namespace
}  // namespace config_detail

namespace {

// Counts documents without building them. yaml-cpp 0.7's LoadAll loops forever, allocating,
// on some malformed input (a document starting with ',': its parser keeps reporting
// empty documents; fixed upstream in 0.8), so the documents are counted here with a cap.
class DocumentCounter final : public YAML::EventHandler {
 public:
  int documents = 0;
  void OnDocumentStart(const YAML::Mark&) override { ++documents; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// The single document of yaml_text (null when the text is empty).
YAML::Node load_single_document(const std::string& yaml_text, const std::string& source) {
  try {
    std::istringstream in(yaml_text);
    YAML::Parser parser(in);
    DocumentCounter counter;
    while (counter.documents < 2 && parser.HandleNextDocument(counter)) {
    }
    // A second document ("---") would otherwise be ignored without a word.
    ELBO_CHECK(counter.documents <= 1, source << ": expected one YAML document, found 2 or more (a '---' separator, or "
                                              << "text after the first document that is not YAML)");
    return counter.documents == 0 ? YAML::Node() : YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) ELBO_FAIL(source << ": invalid YAML: " << e.msg);
    ELBO_FAIL(source << ":" << e.mark.line + 1 << ":" << e.mark.column + 1 << ": invalid YAML: " << e.msg);
  }
}

}  // namespace

Config parse_config(const std::string& yaml_text, const std::string& source,
                    const std::vector<std::string>& overrides) {
  using namespace config_detail;
  const YAML::Node root = load_single_document(yaml_text, source);
  Config config;
  Origins origins;
  apply_document(root, source, config, origins);
  for (const std::string& text : overrides) apply_override(text, config, origins);
  if (auto v = first_violation(config)) {
    std::string where = source;
    for (const std::string& path : v->paths)
      if (auto it = origins.find(path); it != origins.end()) {
        where = it->second;
        break;
      }
    ELBO_FAIL(where << ": " << v->message);
  }
  return config;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  ELBO_CHECK(!std::filesystem::is_directory(path, ec),
             "config file '" << path << "' is a directory, expected a YAML file");
  std::ifstream in(path, std::ios::binary);
  ELBO_CHECK(in, "cannot open config file '" << path << "': " << std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  ELBO_CHECK(!in.bad(), "cannot read config file '" << path << "': " << std::strerror(errno));
  return parse_config(text.str(), path, overrides);
}

}  // namespace elbo
