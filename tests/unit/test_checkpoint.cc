// Checkpoints: exact round trip, a layout other tools can read, keep-last-K, and
// detection of truncated / bit-flipped files with fallback to the previous one.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>

#include "../../src/train/checkpoint_format.h"
#include "../../src/train/checkpoint_seal.h"
#include "elbo/error.h"
#include "elbo/io/hdf5_util.h"
#include "elbo/train/checkpoint.h"
#include "support/synthetic_data.h"

namespace elbo {
namespace {

namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    run_dir_ = make_temp_dir("elbo_ckpt");
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(run_dir_);  // kept on failure, to look at
  }
  std::string run_dir_;
};

NamedArray array(const std::string& name, std::vector<int64_t> shape, float base) {
  NamedArray a{name, std::move(shape), {}};
  int64_t n = 1;
  for (int64_t d : a.shape) n *= d;
  for (int64_t i = 0; i < n; ++i) a.values.push_back(base + 0.37f * float(i) - float(i % 3));
  return a;
}

// Names deliberately not in alphabetical order: loading must keep the written order.
CheckpointState make_state(int64_t step) {
  CheckpointState s;
  s.params = {array("encoder.0.weight", {4, 3}, 0.5f), array("encoder.0.bias", {4}, -1.f),
              array("decoder.mu.weight", {2, 2, 3}, 2.f), array("alpha", {}, 7.f)};
  // Values whose bits a careless conversion would change.
  s.params[0].values[1] = -0.0f;
  s.params[0].values[2] = std::numeric_limits<float>::denorm_min();
  s.params[0].values[3] = std::numeric_limits<float>::max();  // (non-finite values are refused: see below)
  s.params[0].values[4] = std::nextafter(1.0f, 2.0f);
  for (const NamedArray& p : s.params) {
    s.adam_m.push_back(array(p.name, p.shape, 0.01f));
    s.adam_v.push_back(array(p.name, p.shape, 0.02f));
  }
  s.step = step;
  s.epoch = 3;
  s.cursor = (int64_t(1) << 40) + 17;
  s.seed = std::numeric_limits<uint64_t>::max();
  s.world_size = 4;
  s.config_yaml = "model:\n  name: vae\n  latent: 16\ntrain:\n  lr: 0.001  # \xc3\xa9t\xc3\xa9\n";
  s.model_config_yaml = "name: vae\nlatent: 16\n";
  s.sample = Shape::images(1, 3, 28, 20);
  return s;
}

void expect_same_arrays(const std::vector<NamedArray>& a, const std::vector<NamedArray>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].shape, b[i].shape) << a[i].name;
    ASSERT_EQ(a[i].values.size(), b[i].values.size()) << a[i].name;
    EXPECT_EQ(0, std::memcmp(a[i].values.data(), b[i].values.data(), a[i].values.size() * sizeof(float)))
        << a[i].name << " differs bitwise";
  }
}

void expect_same_state(const CheckpointState& a, const CheckpointState& b) {
  expect_same_arrays(a.params, b.params);
  expect_same_arrays(a.adam_m, b.adam_m);
  expect_same_arrays(a.adam_v, b.adam_v);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.cursor, b.cursor);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.world_size, b.world_size);
  EXPECT_EQ(a.config_yaml, b.config_yaml);
  EXPECT_EQ(a.model_config_yaml, b.model_config_yaml);
  EXPECT_EQ(a.sample, b.sample);
}

void expect_error_mentions(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "expected elbo::Error";
  } catch (const Error& e) {
    for (const std::string& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "message '" << e.what() << "' does not mention '" << n << "'";
  }
}

std::vector<std::string> file_names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST_F(CheckpointTest, PathHasNineDigitStep) {
  EXPECT_EQ(checkpoint_path("runs/a", 42), "runs/a/checkpoints/ckpt_000000042.h5");
  EXPECT_THROW(checkpoint_path("runs/a", -1), Error);
  EXPECT_THROW(checkpoint_path("runs/a", 1000000000), Error);
}

TEST_F(CheckpointTest, RoundTripIsExact) {
  CheckpointState s = make_state(120);
  s.params[1].values[2] = -std::numeric_limits<float>::denorm_min();  // unusual bit patterns survive too
  s.params[1].values[3] = std::numeric_limits<float>::lowest();
  save_checkpoint(run_dir_, s, 3);
  const std::string path = checkpoint_path(run_dir_, 120);
  EXPECT_EQ(file_names(run_dir_ + "/checkpoints"), std::vector<std::string>{"ckpt_000000120.h5"});  // no .tmp left
  expect_same_state(s, load_checkpoint(path));
}

TEST_F(CheckpointTest, RoundTripWithoutOptimizerMoments) {
  CheckpointState s = make_state(0);
  s.adam_m.clear();
  s.adam_v.clear();
  s.config_yaml.clear();  // empty strings are legal
  save_checkpoint(run_dir_, s, 1);
  expect_same_state(s, load_checkpoint(checkpoint_path(run_dir_, 0)));
}

// A convolutional model's weights fit images of many sizes: the checkpoint records the
// shape it was trained on, and a set of another shape is refused naming both. Files
// without the record (written before it was kept) load and pass the check.
TEST_F(CheckpointTest, SampleShapeIsRecordedAndOtherShapesAreRefused) {
  CheckpointState s = make_state(5);
  save_checkpoint(run_dir_, s, 1);
  const std::string path = checkpoint_path(run_dir_, 5);
  const CheckpointState loaded = load_checkpoint(path);
  EXPECT_EQ(loaded.sample, Shape::images(1, 3, 28, 20));
  EXPECT_NO_THROW(check_checkpoint_sample_shape(loaded, path, Shape::images(1, 3, 28, 20), "data.test", "t.yaml"));
  expect_error_mentions(
      [&] { check_checkpoint_sample_shape(loaded, path, Shape::images(1, 3, 32, 32), "data.test", "t/manifest.yaml"); },
      {"data.test t/manifest.yaml holds images of 3 x 32 x 32", "checkpoint " + path,
       "trained on images of 3 x 28 x 20"});
  CheckpointState old = make_state(6);
  old.sample = Shape{};
  old.sample.n = 0;
  save_checkpoint(run_dir_, old, 2);
  const CheckpointState old_loaded = load_checkpoint(checkpoint_path(run_dir_, 6));
  EXPECT_EQ(old_loaded.sample.n, 0);
  EXPECT_NO_THROW(check_checkpoint_sample_shape(old_loaded, "old.h5", Shape::images(1, 1, 9, 9), "data.test", "t.yaml"));
}

// The names and types h5py / h5dump users see, checked with the plain HDF5 API.
TEST_F(CheckpointTest, LayoutIsReadableByName) {
  save_checkpoint(run_dir_, make_state(5), 1);
  h5::Session session;  // every HDF5 call in the process goes through the one lock
  hid_t f = H5Fopen(checkpoint_path(run_dir_, 5).c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  for (const char* name :
       {"/params/encoder.0.weight", "/optimizer/m/encoder.0.weight", "/optimizer/v/encoder.0.weight"}) {
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    ASSERT_GE(ds, 0) << name;
    hid_t space = H5Dget_space(ds), type = H5Dget_type(ds);
    hsize_t dims[2] = {0, 0};
    EXPECT_EQ(H5Sget_simple_extent_ndims(space), 2) << name;
    H5Sget_simple_extent_dims(space, dims, nullptr);
    EXPECT_EQ(dims[0], 4u);
    EXPECT_EQ(dims[1], 3u);
    EXPECT_TRUE(H5Tequal(type, H5T_IEEE_F32LE) > 0) << name;
    hid_t attr = H5Aopen(ds, "checksum", H5P_DEFAULT);
    ASSERT_GE(attr, 0) << name;
    hid_t atype = H5Aget_type(attr);
    EXPECT_TRUE(H5Tequal(atype, H5T_STD_U32LE) > 0);
    H5Tclose(atype);
    H5Aclose(attr);
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(ds);
  }
  struct Expected {
    const char* name;
    hid_t type;
  };
  for (Expected e : {Expected{"step", H5T_STD_I64LE},
                     {"epoch", H5T_STD_I64LE},
                     {"cursor", H5T_STD_I64LE},
                     {"seed", H5T_STD_U64LE},
                     {"world_size", H5T_STD_I32LE},
                     {"format_version", H5T_STD_I32LE}}) {
    hid_t attr = H5Aopen(f, e.name, H5P_DEFAULT);
    ASSERT_GE(attr, 0) << e.name;
    hid_t type = H5Aget_type(attr);
    EXPECT_TRUE(H5Tequal(type, e.type) > 0) << e.name;
    H5Tclose(type);
    H5Aclose(attr);
  }
  for (const char* name : {"config", "model_config"}) {
    hid_t attr = H5Aopen(f, name, H5P_DEFAULT);
    ASSERT_GE(attr, 0) << name;
    hid_t type = H5Aget_type(attr);
    EXPECT_EQ(H5Tget_class(type), H5T_STRING);
    EXPECT_TRUE(H5Tis_variable_str(type) > 0) << name << ": h5py returns variable-length strings as str";
    H5Tclose(type);
    H5Aclose(attr);
  }
  int32_t version = 0;
  hid_t attr = H5Aopen(f, "format_version", H5P_DEFAULT);
  H5Aread(attr, H5T_NATIVE_INT32, &version);
  EXPECT_EQ(version, 1);
  H5Aclose(attr);
  H5Fclose(f);
}

TEST_F(CheckpointTest, KeepsNewestKAndNothingElseIsTouched) {
  const std::string dir = run_dir_ + "/checkpoints";
  fs::create_directories(dir);
  for (const char* other : {"notes.txt", "ckpt_12.h5", "ckpt_000000001.h5.bak", "ckpt_00000000x.h5"})
    std::ofstream(dir + "/" + other) << "not a checkpoint";
  for (int64_t step : {100, 200, 300, 400, 500}) save_checkpoint(run_dir_, make_state(step), 2);
  std::vector<std::string> expected = {"ckpt_000000001.h5.bak", "ckpt_00000000x.h5", "ckpt_12.h5",
                                       "ckpt_000000400.h5",     "ckpt_000000500.h5", "notes.txt"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(file_names(dir), expected);
  EXPECT_EQ(list_checkpoints(run_dir_),
            (std::vector<std::string>{checkpoint_path(run_dir_, 500), checkpoint_path(run_dir_, 400)}));
}

// After falling back past a corrupt newer file, the next save must not delete itself.
TEST_F(CheckpointTest, KeepNeverDeletesTheCheckpointJustWritten) {
  save_checkpoint(run_dir_, make_state(100), 1);
  std::ofstream(checkpoint_path(run_dir_, 900)) << "corrupt";
  save_checkpoint(run_dir_, make_state(200), 1);
  EXPECT_EQ(list_checkpoints(run_dir_),
            (std::vector<std::string>{checkpoint_path(run_dir_, 900), checkpoint_path(run_dir_, 200)}));
}

TEST_F(CheckpointTest, TruncatedFileIsRejectedAndSkipped) {
  save_checkpoint(run_dir_, make_state(10), 5);
  save_checkpoint(run_dir_, make_state(20), 5);
  const std::string bad = checkpoint_path(run_dir_, 20);
  fs::resize_file(bad, fs::file_size(bad) / 2);
  expect_error_mentions([&] { load_checkpoint(bad); }, {bad, "truncated"});  // HDF5's own reason is kept

  ResumeResult r = find_latest_valid_checkpoint(run_dir_);
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.path, checkpoint_path(run_dir_, 10));
  EXPECT_EQ(r.state.step, 10);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], bad)) << r.warnings[0];
  EXPECT_TRUE(fs::exists(bad)) << "a corrupt checkpoint must be left for inspection";
}

TEST_F(CheckpointTest, FlippedByteInADatasetFailsItsChecksum) {
  save_checkpoint(run_dir_, make_state(10), 5);
  save_checkpoint(run_dir_, make_state(20), 5);
  const std::string bad = checkpoint_path(run_dir_, 20);
  haddr_t offset = HADDR_UNDEF;
  {
    h5::Session session;
    hid_t f = H5Fopen(bad.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "/optimizer/v/encoder.0.bias", H5P_DEFAULT);
    offset = H5Dget_offset(ds);  // contiguous layout: the raw values start here
    H5Dclose(ds);
    H5Fclose(f);
  }
  ASSERT_NE(offset, HADDR_UNDEF);
  {
    std::fstream file(bad, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(static_cast<std::streamoff>(offset + 5));
    char byte = 0;
    file.get(byte);
    file.seekp(static_cast<std::streamoff>(offset + 5));
    file.put(static_cast<char>(byte ^ 0x10));
  }
  // The seal sees it first, before HDF5 reads the file ...
  expect_error_mentions([&] { load_checkpoint(bad); }, {bad, "CRC32 of its bytes", "altered after it was written"});
  ResumeResult r = find_latest_valid_checkpoint(run_dir_);
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.path, checkpoint_path(run_dir_, 10));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], bad) && contains(r.warnings[0], "CRC32")) << r.warnings[0];
  EXPECT_TRUE(fs::exists(bad));
  // ... and with the seal rewritten over the damage, the dataset's own checksum still does.
  seal_checkpoint_file(bad);
  expect_error_mentions([&] { load_checkpoint(bad); }, {bad, "/optimizer/v/encoder.0.bias", "checksum mismatch"});
}

// Any change to a sealed file is found before HDF5 parses it: a flipped bit anywhere,
// truncation, extension, a damaged seal. (libhdf5 can crash on damaged metadata.)
TEST_F(CheckpointTest, SealFindsEveryChangeBeforeHdf5ReadsTheFile) {
  save_checkpoint(run_dir_, make_state(10), 1);
  const std::string path = checkpoint_path(run_dir_, 10);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(bytes.size(), kSealBytes);
  EXPECT_EQ(bytes.compare(0, 23, "elbo checkpoint seal 1\n"), 0);
  const std::string damaged = run_dir_ + "/damaged.h5";
  auto expect_refused = [&](const std::string& content, const std::string& fragment) {
    std::ofstream(damaged, std::ios::binary | std::ios::trunc) << content;
    expect_error_mentions([&] { verify_checkpoint_seal(damaged); }, {damaged, fragment});
  };
  for (size_t at : {kSealBytes, kSealBytes + 3, bytes.size() / 2, bytes.size() - 1}) {
    std::string b = bytes;
    b[at] = char(b[at] ^ 0x01);
    expect_refused(b, "altered");
  }
  expect_refused(bytes.substr(0, bytes.size() - 1), "truncated");
  expect_refused(bytes.substr(0, 100), "no elbo seal");
  expect_refused(bytes + "x", "extended");
  std::string b = bytes;
  b[30] = 'z';  // inside "bytes <n>"
  expect_refused(b, "seal");
  b = bytes;
  b[0] = 'E';
  expect_refused(b, "no elbo seal");
  verify_checkpoint_seal(path);  // the original is fine
}

// A checkpoint as elbo wrote them before seals existed: HDF5 from byte 0 (the seal is
// an HDF5 user block; HDF5's addresses count from the superblock, so the rest stands alone).
void strip_seal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(kSealBytes);
}

// RAII for ELBO_ALLOW_UNSEALED_CHECKPOINTS.
struct AllowUnsealed {
  AllowUnsealed() { setenv("ELBO_ALLOW_UNSEALED_CHECKPOINTS", "1", 1); }
  ~AllowUnsealed() { unsetenv("ELBO_ALLOW_UNSEALED_CHECKPOINTS"); }
};

// libhdf5 crashes or hangs on some damaged unsealed files (fuzzing found 22), so they are
// read only when asked for, unverified.
TEST_F(CheckpointTest, UnsealedFilesAreReadOnlyWhenAllowed) {
  const CheckpointState s = make_state(10);
  save_checkpoint(run_dir_, s, 5);
  const std::string path = checkpoint_path(run_dir_, 10);
  strip_seal(path);
  expect_error_mentions([&] { load_checkpoint(path); }, {path, "ELBO_ALLOW_UNSEALED_CHECKPOINTS=1"});
  EXPECT_THROW(verify_checkpoint_seal(path), UnsealedCheckpoint);
  AllowUnsealed allow;
  expect_same_state(s, load_checkpoint(path));
}

// A resume must not fall back past an unsealed checkpoint (to an older one, or to a
// fresh start that would then rotate the old run's checkpoints away): it stops, saying why.
TEST_F(CheckpointTest, ResumeStopsAtAnUnsealedCheckpointInsteadOfSkippingIt) {
  save_checkpoint(run_dir_, make_state(10), 5);
  save_checkpoint(run_dir_, make_state(20), 5);
  strip_seal(checkpoint_path(run_dir_, 20));
  EXPECT_THROW(find_latest_valid_checkpoint(run_dir_), UnsealedCheckpoint);
  AllowUnsealed allow;
  const ResumeResult r = find_latest_valid_checkpoint(run_dir_);
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.path, checkpoint_path(run_dir_, 20));
}

TEST_F(CheckpointTest, LeftoverTmpIsIgnoredWithAWarning) {
  save_checkpoint(run_dir_, make_state(10), 5);
  const std::string tmp = checkpoint_path(run_dir_, 20) + ".tmp";
  std::ofstream(tmp) << "half a checkpoint";
  EXPECT_EQ(list_checkpoints(run_dir_), std::vector<std::string>{checkpoint_path(run_dir_, 10)});
  ResumeResult r = find_latest_valid_checkpoint(run_dir_);
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.path, checkpoint_path(run_dir_, 10));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], tmp)) << r.warnings[0];
  EXPECT_TRUE(fs::exists(tmp));
}

TEST_F(CheckpointTest, StepAttributeMustMatchTheFileName) {
  save_checkpoint(run_dir_, make_state(10), 5);
  fs::copy_file(checkpoint_path(run_dir_, 10), checkpoint_path(run_dir_, 30));
  ResumeResult r = find_latest_valid_checkpoint(run_dir_);
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.path, checkpoint_path(run_dir_, 10));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], "ckpt_000000030.h5")) << r.warnings[0];
}

TEST_F(CheckpointTest, NothingToResumeFrom) {
  ResumeResult r = find_latest_valid_checkpoint(run_dir_ + "/never_created");
  EXPECT_FALSE(r.found);
  EXPECT_TRUE(r.warnings.empty());
  fs::create_directories(run_dir_ + "/checkpoints");
  std::ofstream(checkpoint_path(run_dir_, 1)) << "garbage";
  r = find_latest_valid_checkpoint(run_dir_);
  EXPECT_FALSE(r.found);
  EXPECT_EQ(r.warnings.size(), 1u);
}

TEST_F(CheckpointTest, UnreadableFilesNameThePath) {
  const std::string missing = run_dir_ + "/nope.h5";
  expect_error_mentions([&] { load_checkpoint(missing); }, {missing});
  const std::string text = run_dir_ + "/text.h5";
  std::ofstream(text) << "plain text, not HDF5";
  expect_error_mentions([&] { load_checkpoint(text); }, {text});
}

TEST_F(CheckpointTest, NewerFormatVersionIsRejected) {
  save_checkpoint(run_dir_, make_state(10), 1);
  const std::string path = checkpoint_path(run_dir_, 10);
  {
    h5::Session session;
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    h5::write_attr(f, "format_version", int32_t{2});
    H5Fclose(f);
  }
  seal_checkpoint_file(path);  // past the seal: the format check itself
  expect_error_mentions([&] { load_checkpoint(path); }, {path, "format_version 2"});
}

TEST_F(CheckpointTest, MissingAttributeIsNamed) {
  save_checkpoint(run_dir_, make_state(10), 1);
  const std::string path = checkpoint_path(run_dir_, 10);
  {
    h5::Session session;
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    H5Adelete(f, "cursor");
    H5Fclose(f);
  }
  seal_checkpoint_file(path);
  expect_error_mentions([&] { load_checkpoint(path); }, {path, "cursor"});
}

TEST_F(CheckpointTest, InconsistentStateIsRefusedBeforeWriting) {
  CheckpointState s = make_state(10);
  s.adam_m[2].shape = {3, 2, 2};
  expect_error_mentions([&] { save_checkpoint(run_dir_, s, 1); }, {"optimizer/m", "decoder.mu.weight"});
  s = make_state(10);
  s.adam_v.pop_back();
  expect_error_mentions([&] { save_checkpoint(run_dir_, s, 1); }, {"optimizer/v"});
  s = make_state(10);
  s.params[0].name = "encoder/0";
  expect_error_mentions([&] { save_checkpoint(run_dir_, s, 1); }, {"encoder/0"});
  s = make_state(10);
  s.params[1].values.pop_back();
  expect_error_mentions([&] { save_checkpoint(run_dir_, s, 1); }, {"encoder.0.bias", "holds 3"});
  s = make_state(10);
  s.params[3].name = s.params[0].name;
  expect_error_mentions([&] { save_checkpoint(run_dir_, s, 1); }, {"appears twice"});
  EXPECT_THROW(save_checkpoint(run_dir_, make_state(10), 0), Error);
  EXPECT_TRUE(list_checkpoints(run_dir_).empty());
  if (fs::exists(run_dir_ + "/checkpoints")) {
    EXPECT_TRUE(fs::is_empty(run_dir_ + "/checkpoints")) << "no .tmp left";
  }
}

// Issue 8: with train.lr = 10, every kept checkpoint held NaN and the last finite one was
// rotated away. A non-finite state is refused before anything is written or deleted.
TEST_F(CheckpointTest, SaveRefusesNonFiniteStateAndKeepsTheOlderOnes) {
  save_checkpoint(run_dir_, make_state(10), 1);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    CheckpointState s = make_state(20);
    s.adam_v[0].values[1] = bad;
    try {
      save_checkpoint(run_dir_, s, 1);
      FAIL() << "a state holding " << bad << " was written";
    } catch (const Error& e) {
      EXPECT_TRUE(contains(e.what(), "optimizer/v/" + s.adam_v[0].name)) << e.what();
      EXPECT_TRUE(contains(e.what(), "non-finite")) << e.what();
    }
    EXPECT_EQ(file_names(run_dir_ + "/checkpoints"), std::vector<std::string>{"ckpt_000000010.h5"});
  }
}

// A non-finite checkpoint written by an older elbo is skipped like a corrupt one.
TEST_F(CheckpointTest, ResumeSkipsANonFiniteCheckpoint) {
  save_checkpoint(run_dir_, make_state(10), 3);
  CheckpointState bad = make_state(20);
  bad.params[0].values[0] = std::numeric_limits<float>::quiet_NaN();
  write_checkpoint_file(checkpoint_path(run_dir_, 20), bad);
  ResumeResult r = find_latest_valid_checkpoint(run_dir_);
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.state.step, 10);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_TRUE(contains(r.warnings[0], "ckpt_000000020.h5")) << r.warnings[0];
  EXPECT_TRUE(contains(r.warnings[0], "params/" + bad.params[0].name + " holds non-finite values")) << r.warnings[0];
}

}  // namespace
}  // namespace elbo
