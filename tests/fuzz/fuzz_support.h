// Shared by the libFuzzer targets (tests/fuzz/fuzz_*.cc; docs/reliability.md).
// Each target feeds one input to a public elbo API. The expected outcomes are success
// and elbo::Error; anything else — a crash, a sanitizer report, another exception (it
// escapes LLVMFuzzerTestOneInput and aborts), a hang (-timeout) or a leak — is a finding.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <hdf5.h>

#include "elbo/data/shard_set.h"
#include "elbo/error.h"

namespace elbo::fuzz {

// A scratch directory for this fuzzer process (files are written per input: the
// readers take paths), removed at exit. Under $TMPDIR, so a tmpfs keeps it fast.
inline const std::string& scratch_dir() {
  // Never destroyed: the atexit handler that removes the directory runs after statics die.
  static const std::string* dir = [] {
    const char* env = std::getenv("TMPDIR");
    auto* templ = new std::string(std::string(env && *env ? env : "/tmp") + "/elbo_fuzz-XXXXXX");
    if (!mkdtemp(templ->data())) std::abort();
    return templ;
  }();
  static const bool cleanup = std::atexit([] { std::filesystem::remove_all(*dir); }) == 0;
  (void)cleanup;
  return *dir;
}

inline std::string write_file(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return path;
}
inline std::string write_file(const std::string& name, const std::string& bytes) {
  return write_file(name, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// LeakSanitizer cannot see an HDF5 handle elbo forgets to close (HDF5's table of open
// objects keeps it reachable), so after each input no HDF5 object may be left open.
inline void check_no_open_hdf5_objects() {
  const ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  if (open != 0) {
    std::fprintf(stderr, "%zd HDF5 objects are still open after the input\n", open);
    std::abort();
  }
}

// Runs f; elbo::Error is an expected outcome, any other exception escapes (a finding).
// Then checks that no HDF5 object was left open.
template <class F>
void expect_success_or_error(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
  check_no_open_hdf5_objects();
}

// An IDX uint8 file: dims, then `n` bytes of data (i * 37 + 11, mod 256).
inline std::string idx_bytes(std::initializer_list<uint32_t> dims) {
  std::string s = {0, 0, 0x08, char(dims.size())};
  size_t n = 1;
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) s += char((d >> shift) & 0xff);
    n *= d;
  }
  for (size_t i = 0; i < n; ++i) s += char(i * 37 + 11);
  return s;
}

// The shard set the manifest and shard targets read: 6 images 4x4 uint8 with labels,
// in `shards` shards, converted by elbo itself into dir. Returns the manifest path.
inline std::string make_seed_shard_set(const std::string& dir, int shards) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/images.idx", std::ios::binary) << idx_bytes({6, 4, 4});
  std::string labels = idx_bytes({6});
  for (size_t i = 8; i < labels.size(); ++i) labels[i] = char(i % 10);
  std::ofstream(dir + "/labels.idx", std::ios::binary) << labels;
  ConvertOptions opt;
  opt.image_files = {dir + "/images.idx"};
  opt.label_files = {dir + "/labels.idx"};
  opt.out_dir = dir + "/set";
  opt.shards = shards;
  opt.chunk_samples = 2;
  opt.overwrite = true;
  return convert_to_shards(opt).manifest_path;
}

}  // namespace elbo::fuzz
