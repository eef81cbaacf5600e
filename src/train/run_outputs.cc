#include "elbo/train/run_outputs.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "elbo/error.h"
#include "elbo/io/path_note.h"

namespace elbo {
namespace fs = std::filesystem;

std::string checkpoint_output_dir(const std::string& checkpoint) {
  const fs::path folder = fs::path(checkpoint).parent_path();
  if (folder.filename() == "checkpoints") {
    const fs::path run = folder.parent_path();
    return run.empty() ? "." : run.string();
  }
  return folder.empty() ? "." : folder.string();
}

std::string step_file_name(const std::string& prefix, int64_t step, const std::string& suffix) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%09lld", static_cast<long long>(step));
  return prefix + "_step" + digits + suffix;
}

std::string resolve_output(const std::string& out, const std::string& file_name, const std::string& default_path) {
  if (out.empty()) return default_path;
  std::error_code ec;
  if (out.back() == '/' || fs::is_directory(out, ec)) return (fs::path(out) / file_name).string();
  return out;
}

bool same_folder(const std::string& a, const std::string& b) {
  std::error_code ec;
  const fs::path pa = fs::weakly_canonical(fs::absolute(a), ec), pb = fs::weakly_canonical(fs::absolute(b), ec);
  return pa.lexically_normal() == pb.lexically_normal();
}

void create_parent_folders(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  ELBO_CHECK(!ec, "cannot create the folder " << parent.string() << " for " << path << ": " << ec.message()
                                              << relative_note(parent.string()));
}

void write_file_atomically(const std::string& path, const std::string& text) {
  create_parent_folders(path);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    ELBO_CHECK(out.good(), "cannot write " << tmp << ": " << std::strerror(errno) << relative_note(tmp));
    out << text;
    out.flush();
    ELBO_CHECK(out.good(), "cannot write " << tmp << ": " << std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    ELBO_FAIL("cannot rename " << tmp << " to " << path << ": " << std::strerror(err));
  }
}

}  // namespace elbo
