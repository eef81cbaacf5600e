// Checkpoint files on disk: naming, the atomic save (tmp + fsync + rename), keeping the
// last K, and choosing what to resume from. The HDF5 layout is in checkpoint_format.cc.
#include "elbo/train/checkpoint.h"

#include "checkpoint_seal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>

#include "checkpoint_format.h"
#include "elbo/error.h"

namespace elbo {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxStep = 999999999;  // the file name holds 9 digits

fs::path checkpoint_dir(const std::string& run_dir) { return fs::path(run_dir) / "checkpoints"; }

// The step of "ckpt_<9 digits>.h5"; anything else is not ours to list or delete.
std::optional<int64_t> parse_step(const std::string& file_name) {
  const std::string prefix = "ckpt_", suffix = ".h5";
  if (file_name.size() != prefix.size() + 9 + suffix.size()) return std::nullopt;
  if (file_name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  if (file_name.compare(prefix.size() + 9, suffix.size(), suffix) != 0) return std::nullopt;
  int64_t step = 0;
  for (size_t i = prefix.size(); i < prefix.size() + 9; ++i) {
    if (file_name[i] < '0' || file_name[i] > '9') return std::nullopt;
    step = step * 10 + (file_name[i] - '0');
  }
  return step;
}

// Durability: the data must reach the disk before the rename publishes it, and the
// directory entry after, or a power loss can leave a named but empty checkpoint.
void fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), O_RDONLY | (directory ? O_DIRECTORY : 0));
  ELBO_CHECK(fd >= 0, "cannot open " << path << " to sync it: " << std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems cannot sync a directory (EINVAL); the rename is then as durable as they allow.
  ELBO_CHECK(rc == 0 || (directory && err == EINVAL), "fsync " << path << " failed: " << std::strerror(err));
}

// Deletes valid-named checkpoints beyond the newest `keep`, never `just_written`: after a
// fallback resume, a newer corrupt file may still sort above it. A failed delete is
// reported but does not fail the save, which has already succeeded.
void prune(const std::string& run_dir, int keep, const std::string& just_written) {
  std::vector<std::string> all = list_checkpoints(run_dir);
  for (size_t i = static_cast<size_t>(keep); i < all.size(); ++i) {
    if (all[i] == just_written) continue;
    std::error_code ec;
    fs::remove(all[i], ec);
    if (ec) std::cerr << "elbo: warning: cannot delete old checkpoint " << all[i] << ": " << ec.message() << "\n";
  }
}

// The first array holding a NaN or an infinity, as "params/<name>", or "".
std::string first_non_finite(const CheckpointState& state) {
  const std::pair<const char*, const std::vector<NamedArray>*> groups[] = {
      {"params/", &state.params}, {"optimizer/m/", &state.adam_m}, {"optimizer/v/", &state.adam_v}, {"ema/", &state.ema}};
  for (const auto& [prefix, arrays] : groups)
    for (const NamedArray& a : *arrays)
      for (float v : a.values)
        if (!std::isfinite(v)) return prefix + a.name;
  return "";
}

}  // namespace

std::string checkpoint_path(const std::string& run_dir, int64_t step) {
  ELBO_CHECK(step >= 0 && step <= kMaxStep,
             "checkpoint step " << step << ": expected 0.." << kMaxStep << " (9 digits in the file name)");
  char name[32];
  std::snprintf(name, sizeof name, "ckpt_%09lld.h5", static_cast<long long>(step));
  return (checkpoint_dir(run_dir) / name).string();
}

void save_checkpoint(const std::string& run_dir, const CheckpointState& state, int keep,
                     const std::function<void()>& before_publish) {
  ELBO_CHECK(keep >= 1, "checkpoint keep count: expected >= 1, got " << keep);
  const std::string final_path = checkpoint_path(run_dir, state.step);
  // A checkpoint of NaNs would rotate the last good one away and be resumed from.
  const std::string bad = first_non_finite(state);
  ELBO_CHECK(bad.empty(), "refusing to write " << final_path << ": " << bad
                                               << " holds non-finite values; the older checkpoints are kept");
  const std::string dir = checkpoint_dir(run_dir).string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  ELBO_CHECK(!ec, "cannot create checkpoint directory " << dir << ": " << ec.message());

  const std::string tmp = final_path + ".tmp";
  try {
    write_checkpoint_file(tmp, state);
    fsync_path(tmp, false);
    if (before_publish) before_publish();
    ELBO_CHECK(std::rename(tmp.c_str(), final_path.c_str()) == 0,
               "cannot rename " << tmp << " to " << final_path << ": " << std::strerror(errno));
  } catch (...) {
    std::remove(tmp.c_str());  // a half-written file helps nobody; the previous checkpoints are intact
    throw;
  }
  fsync_path(dir, true);
  prune(run_dir, keep, final_path);
}

namespace {
std::string chw(const Shape& s) {
  return std::to_string(s.c) + " x " + std::to_string(s.h) + " x " + std::to_string(s.w);
}
}  // namespace

void check_checkpoint_sample_shape(const CheckpointState& state, const std::string& path, const Shape& sample,
                                   const std::string& data_key, const std::string& manifest) {
  if (state.sample.n == 0) return;
  ELBO_CHECK(state.sample.c == sample.c && state.sample.h == sample.h && state.sample.w == sample.w,
             data_key << " " << manifest << " holds images of " << chw(sample)
                      << " (channels x height x width), but the model of checkpoint " << path
                      << " was trained on images of " << chw(state.sample)
                      << ": use data of the shape it was trained on, or train a model for this data");
}

void explain_by_checkpoint_sample_shape(const std::string& requested, const std::string& run_dir,
                                        const std::string& model_config_yaml, const Shape& sample,
                                        const std::string& data_key, const std::string& manifest) {
  std::string path = requested;
  CheckpointState state;
  try {
    if (path.empty()) {
      ResumeResult rr = find_latest_valid_checkpoint(run_dir);
      if (!rr.found) return;
      path = rr.path;
      state = std::move(rr.state);
    } else {
      state = load_checkpoint(path);
    }
  } catch (const std::exception&) {
    return;  // an unreadable checkpoint (even bad_alloc on a damaged one): not what failed here
  }
  // Another model's checkpoint: the model in use is what failed, and its error says why.
  if (state.model_config_yaml != model_config_yaml) return;
  check_checkpoint_sample_shape(state, path, sample, data_key, manifest);
}

std::vector<std::string> list_checkpoints(const std::string& run_dir) {
  const fs::path dir = checkpoint_dir(run_dir);
  std::error_code ec;
  if (!fs::exists(dir, ec)) return {};
  std::vector<std::pair<int64_t, std::string>> found;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::optional<int64_t> step = parse_step(it->path().filename().string());
    if (step && it->is_regular_file(ec)) found.emplace_back(*step, it->path().string());
  }
  ELBO_CHECK(!ec, "cannot list checkpoint directory " << dir.string() << ": " << ec.message());
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> paths;
  for (auto& f : found) paths.push_back(std::move(f.second));
  return paths;
}

ResumeResult find_latest_valid_checkpoint(const std::string& run_dir) {
  ResumeResult result;
  std::error_code ec;
  const fs::path dir = checkpoint_dir(run_dir);
  if (fs::is_directory(dir, ec)) {
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0)
        result.warnings.push_back("ignoring " + it->path().string() +
                                  ": left by a checkpoint write that did not finish");
    }
  }
  for (const std::string& path : list_checkpoints(run_dir)) {
    try {
      CheckpointState state = load_checkpoint(path);
      const int64_t named = *parse_step(fs::path(path).filename().string());
      ELBO_CHECK(state.step == named,
                 "checkpoint " << path << ": its step attribute is " << state.step << ", the file name says " << named);
      // Written by an elbo that did not check (or damaged in a way its checksums match).
      const std::string bad = first_non_finite(state);
      ELBO_CHECK(bad.empty(), "checkpoint " << path << ": " << bad << " holds non-finite values");
      result.found = true;
      result.path = path;
      result.state = std::move(state);
      return result;
    } catch (const UnsealedCheckpoint& e) {
      // Skipping it could restart the run from an older checkpoint or from scratch; say
      // too what was skipped on the way to it.
      std::string message = e.what();
      for (const std::string& w : result.warnings) message += "\n  (before it: " + w + ")";
      throw UnsealedCheckpoint(message);
    } catch (const std::exception& e) {  // Error, or bad_alloc from a damaged shape
      result.warnings.push_back(std::string("skipping checkpoint ") + path + " (left in place): " + e.what());
    }
  }
  return result;
}

}  // namespace elbo
