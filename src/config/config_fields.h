// The schema of the configuration as one table: every key of every section with a
// typed binding to its Config member and the rule its value must satisfy. Parsing,
// overriding, validation and emission all walk this table, so a new key is one line
// in config_fields.cc (plus its entry in docs/config.md, which a test checks).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "elbo/config.h"

namespace elbo::config_detail {

// A pointer to the Config member a key binds; its alternative is the key's type.
using FieldRef = std::variant<std::string*, bool*, int*, int64_t*, uint64_t*, float*, double*,
                              std::vector<int>*>;

// What a value must satisfy, checked after parsing (and after the overrides). Numeric
// bounds apply to each entry of a list; kNonEmpty applies to strings and lists.
struct Rule {
  enum class Kind { kAny, kRange, kOneOf, kNonEmpty };
  Kind kind = Kind::kAny;
  bool has_lo = false, has_hi = false;
  bool lo_open = false, hi_open = false;  // open: the bound itself is excluded
  double lo = 0, hi = 0;
  std::vector<std::string_view> choices;
  bool non_empty = false;                 // kRange on a list: also at least one entry
};

Rule any();
Rule at_least(double lo);                  // [lo, inf)
Rule above(double lo);                     // (lo, inf)
Rule closed(double lo, double hi);         // [lo, hi]
Rule half_open(double lo, double hi);      // [lo, hi)
Rule one_of(std::initializer_list<std::string_view> choices);
Rule non_empty();
Rule non_empty_list_of(Rule entries);      // a list with >= 1 entry, each satisfying entries

struct Field {
  std::string_view section;
  std::string_view key;
  FieldRef (*bind)(Config&);
  Rule rule;

  std::string path() const { return std::string(section) + "." + std::string(key); }
  FieldRef ref(Config& c) const { return bind(c); }
  // Reading through a const Config: the binding is shared with the writers, and
  // callers of this overload only read through the pointer.
  FieldRef ref(const Config& c) const { return bind(const_cast<Config&>(c)); }
};

// Every key, sections in the order of Config, keys in the order of each struct.
const std::vector<Field>& fields();
// The section names, in order.
const std::vector<std::string_view>& sections();
// nullptr when section.key is not a key.
const Field* find_field(std::string_view section, std::string_view key);
bool is_section(std::string_view section);

// The known key closest to an unknown dotted path (a key of the same name in another
// section, else the nearest by edit distance), or "" when nothing is close.
std::string suggest_key(std::string_view dotted_path);
// Same for an unknown section name.
std::string suggest_section(std::string_view section);

// The type a key expects, in words ("a number", "a list of integers").
std::string type_name(const FieldRef& ref);
// The value as YAML text, exactly as config_to_yaml writes it (config_emit.cc).
std::string value_text(const FieldRef& ref);

}  // namespace elbo::config_detail
