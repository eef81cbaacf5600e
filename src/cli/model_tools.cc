#include "model_tools.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "elbo/error.h"
#include "elbo/train/checkpoint.h"
#include "elbo/train/run_outputs.h"
#include "paths.h"

namespace elbo::cli {
namespace fs = std::filesystem;

ModelOnData open_model_on_data(const Config& config, MpiContext& mpi, const RunArgs& args) {
  ModelOnData m;
  std::string manifest = args.option("data");
  m.data_key = "--data";
  if (manifest.empty()) {
    m.data_key = config.data.test.empty() ? "data.train" : "data.test";
    manifest = config.data.test.empty() ? config.data.train : config.data.test;
  }
  const std::string checkpoint = args.option("checkpoint");
  mpi.check_on_all_ranks([&] {
    if (!checkpoint.empty()) require_input_file("--checkpoint", checkpoint, Expected::kCheckpoint);
    require_input_file(m.data_key, manifest, Expected::kManifest);
    m.data = open_shard_set(manifest);
    ELBO_CHECK(m.data.count > 0, m.data_key << " " << manifest << " holds no images");
  });
  try {
    m.replica = make_replica(config, mpi, m.data.sample_shape());
  } catch (const Error&) {
    // Images of another shape than the checkpoint's, which the model cannot even take:
    // say that, not what its layers make of them.
    explain_by_checkpoint_sample_shape(checkpoint, config.run.dir, model_config_to_yaml(config.model),
                                       m.data.sample_shape(), m.data_key, manifest);
    throw;
  }
  m.checkpoint = restore_on_ranks(config, mpi, m.replica, checkpoint, m.data, m.data_key);
  return m;
}

bool parse_count(const std::string& text, int64_t min, int64_t max, int64_t* out) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < min || v > max) return false;
  *out = v;
  return true;
}

std::string out_problem(const std::string& out, const std::vector<std::string>& endings) {
  std::string list;
  for (const std::string& e : endings) list += (list.empty() ? "" : " or ") + e;
  if (out.empty()) return "--out is required: the file to write (" + list + ") or a folder";
  std::error_code ec;
  if (out.back() == '/' || fs::is_directory(out, ec)) return "";
  const std::string ending = fs::path(out).extension().string();
  if (std::find(endings.begin(), endings.end(), ending) == endings.end())
    return "--out " + out + ": expected a file name ending in " + list + " (or a folder)";
  return "";
}

std::string out_path(const std::string& out, const std::string& prefix, int64_t step, const std::string& default_ending) {
  return resolve_output(out, step_file_name(prefix, step, default_ending), out);
}

}  // namespace elbo::cli
