// See config_scalars.h.
#include "config_scalars.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <system_error>

namespace elbo::config_detail {
namespace {

// from_chars rejects a leading '+', which YAML allows for numbers.
std::string_view strip_plus(std::string_view text) {
  return !text.empty() && text[0] == '+' ? text.substr(1) : text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

template <typename T>
std::optional<T> parse_number(std::string_view text) {
  text = strip_plus(text);
  if (text.empty()) return std::nullopt;
  const std::string word = lower(text);
  if constexpr (std::is_floating_point_v<T>) {
    if (word == ".inf" || word == "inf") return std::numeric_limits<T>::infinity();
    if (word == "-.inf" || word == "-inf") return -std::numeric_limits<T>::infinity();
    if (word == ".nan" || word == "nan") return std::numeric_limits<T>::quiet_NaN();
  }
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  // result_out_of_range: a float beyond the type (1e40 for a float, 2^63 for an int64).
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

template <typename T>
std::string format_floating(T value) {
  if (std::isnan(value)) return ".nan";
  if (std::isinf(value)) return value > 0 ? ".inf" : "-.inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  std::string text(buffer, result.ptr);
  // "1" reads as an integer to people and to other YAML tools; "1.0" says float.
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

bool is_plain_safe(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_' || s[0] == '/'))
    return false;
  for (char c : s) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '/';
    if (!ok) return false;
  }
  // Words a YAML reader would turn into a boolean or a null.
  static const char* const kReserved[] = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"};
  const std::string word = lower(s);
  for (const char* r : kReserved)
    if (word == r) return false;
  return true;
}

}  // namespace

std::optional<bool> parse_bool(std::string_view text) {
  const std::string word = lower(text);
  if (word == "true" || word == "yes" || word == "on") return true;
  if (word == "false" || word == "no" || word == "off") return false;
  return std::nullopt;
}

std::optional<int64_t> parse_int64(std::string_view text) { return parse_number<int64_t>(text); }

std::optional<uint64_t> parse_uint64(std::string_view text) {
  if (!text.empty() && text[0] == '-') return std::nullopt;
  return parse_number<uint64_t>(text);
}

std::optional<float> parse_float(std::string_view text) { return parse_number<float>(text); }
std::optional<double> parse_double(std::string_view text) { return parse_number<double>(text); }

std::string format_float(float value) { return format_floating(value); }
std::string format_double(double value) { return format_floating(value); }

std::string format_string(const std::string& value) {
  if (is_plain_safe(value)) return value;
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\x%02x", static_cast<unsigned char>(c));
          out += escape;
        } else {
          out += c;  // UTF-8 bytes pass through: YAML text is UTF-8
        }
    }
  }
  return out + "\"";
}

}  // namespace elbo::config_detail
