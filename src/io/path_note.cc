#include "elbo/io/path_note.h"

#include <filesystem>
#include <system_error>

namespace elbo {

std::string relative_note(const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty() || fs::path(path).is_absolute()) return "";
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);
  return ec ? std::string(" (a relative path; the current directory is unknown)")
            : " (relative to the current directory " + cwd.string() + ")";
}

}  // namespace elbo
