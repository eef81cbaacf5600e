// The checkpoint file layout (see checkpoint.h and docs/checkpoints.md): writing one
// file, and reading it back with every check that lets resume trust what it gets.
#include "checkpoint_format.h"

#include <filesystem>
#include <set>
#include <sstream>

#include "checkpoint_seal.h"
#include "elbo/error.h"
#include "elbo/io/crc32.h"
#include "elbo/io/hdf5_util.h"

namespace elbo {
namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? "," : "") << shape[i];
  os << "]";
  return os.str();
}

uint32_t checksum(const std::vector<float>& values) {
  return crc32_bytes(values.data(), values.size() * sizeof(float));
}

void check_arrays(const std::vector<NamedArray>& arrays, const std::string& what, const std::string& label) {
  std::set<std::string> seen;
  for (const NamedArray& a : arrays) {
    // A '/' would make HDF5 nest groups; "." names the group itself.
    ELBO_CHECK(!a.name.empty() && a.name != "." && a.name.find('/') == std::string::npos,
               label << ": " << what << " name '" << a.name << "': expected a non-empty name without '/'");
    ELBO_CHECK(seen.insert(a.name).second, label << ": " << what << " '" << a.name << "' appears twice");
    int64_t count = 1;
    for (int64_t d : a.shape) {
      ELBO_CHECK(d >= 0,
                 label << ": " << what << " '" << a.name << "' has a negative dimension " << shape_str(a.shape));
      count *= d;
    }
    ELBO_CHECK(static_cast<size_t>(count) == a.values.size(), label << ": " << what << " '" << a.name << "' has shape "
                                                                    << shape_str(a.shape) << " (" << count
                                                                    << " values) but holds " << a.values.size());
  }
}

// Adam moments are empty (before the first step) or mirror params name for name.
void check_moments(const CheckpointState& s, const std::vector<NamedArray>& moments, const std::string& what,
                   const std::string& label) {
  if (moments.empty() && (what == "ema" || (s.adam_m.empty() && s.adam_v.empty()))) return;
  ELBO_CHECK(moments.size() == s.params.size(),
             label << ": " << what << " has " << moments.size() << " arrays, params has " << s.params.size());
  for (size_t i = 0; i < moments.size(); ++i) {
    const NamedArray& p = s.params[i];
    const NamedArray& m = moments[i];
    ELBO_CHECK(m.name == p.name && m.shape == p.shape, label << ": " << what << "[" << i << "] is '" << m.name << "' "
                                                             << shape_str(m.shape) << ", expected '" << p.name << "' "
                                                             << shape_str(p.shape) << " as in params");
  }
}

void check_state(const CheckpointState& s, const std::string& label) {
  check_arrays(s.params, "param", label);
  check_arrays(s.adam_m, "optimizer/m", label);
  check_arrays(s.adam_v, "optimizer/v", label);
  check_moments(s, s.adam_m, "optimizer/m", label);
  check_moments(s, s.adam_v, "optimizer/v", label);
  check_arrays(s.ema, "ema", label);
  check_moments(s, s.ema, "ema", label);
  ELBO_CHECK(s.skipped_nonfinite >= 0 && s.skipped_over_threshold >= 0,
             label << ": skipped step counts must be >= 0, got " << s.skipped_nonfinite << ", "
                   << s.skipped_over_threshold);
  ELBO_CHECK(s.step >= 0 && s.epoch >= 0 && s.cursor >= 0,
             label << ": step, epoch and cursor must be >= 0, got " << s.step << ", " << s.epoch << ", " << s.cursor);
  ELBO_CHECK(s.world_size >= 1, label << ": world_size must be >= 1, got " << s.world_size);
}

void write_arrays(hid_t parent, const std::string& group, const std::vector<NamedArray>& arrays) {
  h5::Handle g = h5::create_group(parent, group);
  for (const NamedArray& a : arrays) {
    h5::Handle ds = h5::write_floats(g.get(), a.name, a.shape, a.values.data());
    h5::write_attr(ds.get(), "checksum", checksum(a.values));
  }
}

std::vector<NamedArray> read_arrays(hid_t parent, const std::string& group) {
  h5::Handle g = h5::open_group(parent, group);
  std::vector<NamedArray> arrays;
  for (const std::string& name : h5::child_names(g.get())) {
    h5::Handle ds = h5::open_dataset(g.get(), name);
    h5::FloatArray a = h5::read_floats(ds.get());
    uint32_t stored = h5::read_attr<uint32_t>(ds.get(), "checksum");
    uint32_t actual = checksum(a.values);
    ELBO_CHECK(stored == actual, h5::where(ds.get()) << ": checksum mismatch (stored 0x" << std::hex << stored
                                                     << ", computed 0x" << actual << "): the file is corrupt");
    arrays.push_back({name, std::move(a.shape), std::move(a.values)});
  }
  return arrays;
}

}  // namespace

void write_checkpoint_file(const std::string& path, const CheckpointState& s) {
  check_state(s, "checkpoint " + path);
  h5::Session session;
  h5::Handle file = h5::create_file(path, kSealBytes);
  hid_t root = file.get();  // attribute calls on a file id address its root group
  write_arrays(root, "params", s.params);
  {
    h5::Handle optimizer = h5::create_group(root, "optimizer");
    write_arrays(optimizer.get(), "m", s.adam_m);
    write_arrays(optimizer.get(), "v", s.adam_v);
  }
  if (!s.ema.empty()) write_arrays(root, "ema", s.ema);
  h5::write_attr(root, "skipped_nonfinite", s.skipped_nonfinite);
  h5::write_attr(root, "skipped_over_threshold", s.skipped_over_threshold);
  h5::write_attr(root, "format_version", kCheckpointFormatVersion);
  h5::write_attr(root, "step", s.step);
  h5::write_attr(root, "epoch", s.epoch);
  h5::write_attr(root, "cursor", s.cursor);
  h5::write_attr(root, "seed", s.seed);
  h5::write_attr(root, "world_size", static_cast<int32_t>(s.world_size));
  h5::write_attr(root, "config", s.config_yaml);
  h5::write_attr(root, "model_config", s.model_config_yaml);
  if (s.sample.n > 0) {
    h5::write_attr(root, "sample_channels", int32_t(s.sample.c));
    h5::write_attr(root, "sample_height", int32_t(s.sample.h));
    h5::write_attr(root, "sample_width", int32_t(s.sample.w));
  }
  ELBO_CHECK(H5Fflush(root, H5F_SCOPE_GLOBAL) >= 0, "checkpoint " << path << ": flush failed");
  file.close();
  seal_checkpoint_file(path);
}

CheckpointState load_checkpoint(const std::string& path) {
  std::error_code ec;
  ELBO_CHECK(std::filesystem::is_regular_file(path, ec), "checkpoint " << path << ": no such file");
  verify_checkpoint_seal(path);  // before HDF5 parses anything of it
  CheckpointState s;
  {
    h5::Session session;
    h5::Handle file = h5::open_file(path);
    hid_t root = file.get();
    ELBO_CHECK(h5::has_attr(root, "format_version"),
               "checkpoint " << path << ": not an elbo checkpoint (no format_version attribute on /)");
    int32_t version = h5::read_attr<int32_t>(root, "format_version");
    ELBO_CHECK(version == kCheckpointFormatVersion, "checkpoint " << path << ": format_version " << version
                                                                  << " is not supported (this build reads "
                                                                  << kCheckpointFormatVersion << ")");
    s.step = h5::read_attr<int64_t>(root, "step");
    s.epoch = h5::read_attr<int64_t>(root, "epoch");
    s.cursor = h5::read_attr<int64_t>(root, "cursor");
    s.seed = h5::read_attr<uint64_t>(root, "seed");
    s.world_size = h5::read_attr<int32_t>(root, "world_size");
    s.config_yaml = h5::read_attr<std::string>(root, "config");
    s.model_config_yaml = h5::read_attr<std::string>(root, "model_config");
    s.params = read_arrays(root, "params");
    h5::Handle optimizer = h5::open_group(root, "optimizer");
    s.adam_m = read_arrays(optimizer.get(), "m");
    s.adam_v = read_arrays(optimizer.get(), "v");
    if (h5::has_link(root, "ema")) s.ema = read_arrays(root, "ema");
    if (h5::has_attr(root, "skipped_nonfinite")) s.skipped_nonfinite = h5::read_attr<int64_t>(root, "skipped_nonfinite");
    if (h5::has_attr(root, "skipped_over_threshold"))
      s.skipped_over_threshold = h5::read_attr<int64_t>(root, "skipped_over_threshold");
    if (h5::has_attr(root, "sample_channels")) {
      s.sample = Shape::images(1, h5::read_attr<int32_t>(root, "sample_channels"),
                               h5::read_attr<int32_t>(root, "sample_height"), h5::read_attr<int32_t>(root, "sample_width"));
      ELBO_CHECK(s.sample.c > 0 && s.sample.h > 0 && s.sample.w > 0,
                 "checkpoint " << path << ": sample shape " << s.sample.str() << " is not positive");
    }
  }
  check_state(s, "checkpoint " + path);
  return s;
}

}  // namespace elbo
