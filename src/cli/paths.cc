#include "paths.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "elbo/error.h"
#include "elbo/io/path_note.h"
#include "elbo/train/checkpoint.h"

namespace elbo::cli {
namespace fs = std::filesystem;
namespace {

// The file a user most likely meant when naming a folder, as "; did you mean F?", or "".
std::string file_meant_in(const std::string& folder, Expected expected) {
  std::error_code ec;
  if (expected == Expected::kManifest) {
    const fs::path manifest = fs::path(folder) / "manifest.yaml";
    if (fs::is_regular_file(manifest, ec)) return "; did you mean " + manifest.string() + "?";
  } else if (expected == Expected::kCheckpoint) {
    try {
      // A run folder, or the checkpoints folder inside one (run/checkpoints, run/best/checkpoints).
      fs::path run(folder);
      if (run.filename().empty()) run = run.parent_path();  // "run/checkpoints/"
      std::vector<std::string> checkpoints = list_checkpoints(run.string());
      if (checkpoints.empty() && run.filename() == "checkpoints") checkpoints = list_checkpoints(run.parent_path().string());
      if (!checkpoints.empty()) return "; did you mean " + checkpoints.front() + "?";
    } catch (const Error&) {
    }
  } else if (expected == Expected::kConfig) {
    std::vector<std::string> yaml;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".yaml") yaml.push_back(it->path().string());
    std::sort(yaml.begin(), yaml.end());
    if (yaml.size() == 1) return "; did you mean " + yaml.front() + "?";
    std::string list;
    for (const std::string& y : yaml) list += (list.empty() ? "" : ", ") + y;
    if (!list.empty()) return "; it holds " + list;
  }
  return "";
}

}  // namespace

void require_input_file(const std::string& what, const std::string& path, Expected expected) {
  ELBO_CHECK(!path.empty(), what << ": no path given");
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (fs::is_directory(st)) {
    ELBO_FAIL(what << ": " << path << " is a folder, but a file is expected here" << file_meant_in(path, expected)
                   << relative_note(path));
  }
  ELBO_CHECK(fs::exists(st), what << ": " << path << " does not exist" << relative_note(path));
}

}  // namespace elbo::cli
