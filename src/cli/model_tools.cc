#include "model_tools.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "elbo/error.h"
#include "elbo/io/hdf5_util.h"
#include "elbo/io/progress.h"
#include "elbo/train/run_outputs.h"
#include "elbo/train/signals.h"
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
  m.replica = make_replica(config, mpi, m.data.sample_shape());
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

void write_hdf5_atomically(const std::string& path, const std::function<void(hid_t file)>& fill) {
  create_parent_folders(path);
  const std::string tmp = path + ".tmp";
  try {
    h5::Session session;
    h5::Handle file = h5::create_file(tmp);
    fill(file.get());
    file.close();
  } catch (const Error&) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    ELBO_FAIL("cannot rename " << tmp << " to " << path << ": " << std::strerror(err));
  }
}

std::vector<double> per_image_columns(const Config& config, MpiContext& mpi, ModelOnData& m, int batch, int k,
                                      int columns, const char* what,
                                      const std::function<void(const ImageScorer&, int, double*)>& row,
                                      bool group_means) {
  const int64_t n = m.data.count;
  const int64_t begin = n * mpi.rank() / mpi.world(), end = n * (mpi.rank() + 1) / mpi.world();
  ImageScorer scorer(config, *m.replica.backend, *m.replica.model, m.data, m.data_key.c_str(), batch, k, group_means);
  // Every rank fills its own images and zeros elsewhere; a sum gathers them on all.
  std::vector<double> values(size_t(n) * size_t(columns), 0.0);
  // Rank 0 reports its slice, scaled to all images (the slices run at the same pace).
  const double scale = double(n) / double(std::max<int64_t>(1, end - begin));
  ProgressMeter progress(what, "images", n, mpi.is_root());
  // Ctrl-C (or a job's SIGTERM) ends the work within one chunk, saying so; the result is
  // written only at the end (atomically), so nothing is left behind.
  install_stop_signal_handlers();
  for (int64_t first = begin; first < end; first += batch) {
    const int rows = int(std::min<int64_t>(batch, end - first));
    scorer.score(first, rows, [&](int done) {
      progress.update(int64_t(double(first - begin + done) * scale));
      if (stop_signal_received())
        ELBO_FAIL(what << " interrupted by " << stop_signal_name(last_stop_signal()) << " after " << first - begin + done
                       << " of " << end - begin << " images of this rank; no result was written");
    });
    for (int r = 0; r < rows; ++r) row(scorer, r, &values[size_t(first + r) * size_t(columns)]);
  }
  if (mpi.world() > 1) {
    constexpr size_t kPiece = size_t(1) << 24;
    for (size_t i = 0; i < values.size(); i += kPiece)
      mpi.allreduce_sum(values.data() + i, int(std::min(kPiece, values.size() - i)));
  }
  if (!mpi.is_root()) values.clear();
  return values;
}

}  // namespace elbo::cli
