// Config YAML and --set overrides (src/config/) through parse_config.
// Input: YAML text, optionally followed by a NUL byte and override lines
// ("section.key=value", one per line). An accepted config must also round-trip:
// config_to_yaml's text parses back to the same text (docs/config.md promises it).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "elbo/config.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string yaml = input.substr(0, nul);
  std::vector<std::string> overrides;
  for (size_t at = nul; at != std::string::npos && at < input.size();) {
    const size_t end = input.find('\n', at + 1);
    overrides.push_back(input.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1));
    at = end;
  }
  std::string text;
  elbo::fuzz::expect_success_or_error(
      [&] { text = elbo::config_to_yaml(elbo::parse_config(yaml, "fuzz.yaml", overrides)); });
  if (text.empty()) return 0;
  // Outside expect_success_or_error: an accepted config whose own YAML is refused is a finding.
  std::string again;
  try {
    again = elbo::config_to_yaml(elbo::parse_config(text, "round-trip.yaml"));
  } catch (const elbo::Error& e) {
    std::fprintf(stderr, "accepted config does not parse back: %s\n%s\n", e.what(), text.c_str());
    std::abort();
  }
  if (again != text) {
    std::fprintf(stderr, "config round trip changed it:\n%s\n---\n%s\n", text.c_str(), again.c_str());
    std::abort();
  }
  return 0;
}
