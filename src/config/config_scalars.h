// Text <-> value for the scalar types of the configuration. Locale-independent
// (std::from_chars / std::to_chars), strict (the whole text must be the value), and
// exact: format_* gives the shortest text that parses back to the same bits, so the
// effective config written to a run directory reproduces the run exactly.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace elbo::config_detail {

// std::nullopt when the text is not entirely one value of the type.
std::optional<bool> parse_bool(std::string_view text);  // true|false|yes|no|on|off (any case)
std::optional<int64_t> parse_int64(std::string_view text);
std::optional<uint64_t> parse_uint64(std::string_view text);
// Accepts YAML's .inf/-.inf/.nan; std::nullopt also for a finite value outside the type's range.
std::optional<float> parse_float(std::string_view text);
std::optional<double> parse_double(std::string_view text);

std::string format_float(float value);    // 0.001, 1e-08, 1.0, .inf
std::string format_double(double value);
// Plain when the string cannot be mistaken for another YAML type, else double-quoted.
std::string format_string(const std::string& value);

}  // namespace elbo::config_detail
