#include "help.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "build_info.h"

namespace elbo::cli {
namespace fs = std::filesystem;

bool wants_help(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) return true;
  return false;
}

int print_help(const char* text) {
  std::fputs(text, stdout);
  return 0;
}

int usage_error(const std::string& command, const std::string& problem) {
  std::fprintf(stderr, "elbo %s: %s\nsee `elbo %s --help`\n", command.c_str(), problem.c_str(), command.c_str());
  return 2;
}

std::string example_configs() {
  std::vector<fs::path> candidates;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) candidates.push_back(fs::path(std::string(exe, size_t(n))).parent_path() / "../share/elbo/configs");
  candidates.push_back(fs::path(build_info().source_dir) / "configs");
  candidates.push_back("configs");
  for (const fs::path& dir : candidates) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<std::string> names;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".yaml") names.push_back(it->path().filename().string());
    if (names.empty()) continue;
    std::sort(names.begin(), names.end());
    std::string list;
    for (const std::string& name : names) list += (list.empty() ? "" : ", ") + name;
    return fs::weakly_canonical(dir, ec).string() + " (" + list + ")";
  }
  return "";
}

}  // namespace elbo::cli
