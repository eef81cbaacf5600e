// Bad shard sets and bad loader options: each is an elbo::Error whose message
// names the file (or the value) and what is wrong.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "elbo/data/loader.h"
#include "elbo/data/shard_set.h"
#include "elbo/error.h"
#include "support/synthetic_data.h"
#include "support/text_files.h"

namespace elbo {
namespace {

namespace fs = std::filesystem;



// Runs f, expecting an elbo::Error holding every fragment.
template <typename F>
void expect_error(F f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one with '" << *fragments.begin() << "'";
  } catch (const Error& e) {
    for (const auto& frag : fragments)
      EXPECT_NE(std::string(e.what()).find(frag), std::string::npos) << "'" << frag << "' not in: " << e.what();
  }
}

class DataErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("elbo-data-errors");
    manifest_ = make_synthetic_shard_set(dir_, 30, 1, 8, 8, 3, 4);  // shards of 10
    // These tests change shard files on purpose to reach the reader's own checks; the
    // whole-file seal that would refuse them first has its own test below.
    sealed_manifest_text_ = read_file(manifest_);
    unseal_manifest(manifest_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::string shard(int i) const { return dir_ + "/set/shard_0000" + std::to_string(i) + ".h5"; }
  std::string dir_, manifest_, sealed_manifest_text_;
  static std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

TEST_F(DataErrors, MissingShardFile) {
  fs::remove(shard(1));
  expect_error([&] { open_shard_set(manifest_); }, {"shard_00001.h5", "does not exist", "manifest.yaml"});
}

// Found by fuzz_shard: a layout whose chunk dimensions or chunk sizes disagree with the
// chunks stored made libhdf5 read past its buffers (heap overflow, SEGV) or allocate
// 4 GiB inside H5Dread. Stored bytes are now checked against shape and layout first.
TEST_F(DataErrors, ShardLayoutThatDisagreesWithItsStoredChunks) {
  for (const char* input : {"regress_chunk_dims_overread.h5", "regress_chunk_dims_segv.h5", "regress_chunk_size_4gib.h5"}) {
    // The fuzz target's set: 6 images 1x4x4 uint8 with labels, in one shard.
    fs::create_directories(dir_ + "/" + input);
    const std::string manifest = make_synthetic_shard_set(dir_ + "/" + input, 6, 1, 4, 4, 1, 3);
    unseal_manifest(manifest);  // the reader's own check, behind the seal
    fs::copy_file(std::string(ELBO_SOURCE_DIR) + "/tests/fuzz/corpus/shard/" + input,
                  dir_ + "/" + input + "/set/shard_00000.h5", fs::copy_options::overwrite_existing);
    expect_error([&] { open_shard_set(manifest); }, {"shard_00000.h5: /images: stores", "shape and layout need"});
  }
}

TEST_F(DataErrors, TruncatedShardFile) {
  fs::resize_file(shard(2), fs::file_size(shard(2)) / 2);
  expect_error([&] { open_shard_set(manifest_); }, {"shard_00002.h5", "truncated"});
}

TEST_F(DataErrors, NotAnHdf5File) {
  write_text(shard(0), "hello");
  expect_error([&] { open_shard_set(manifest_); }, {"shard_00000.h5", "cannot open as HDF5"});
}

TEST_F(DataErrors, ShardWithAnotherImageShape) {
  // A set of 6x6 images, same shard counts: its shard 2 dropped into our set.
  const std::string other = dir_ + "/other";
  fs::create_directories(other);
  make_synthetic_shard_set(other, 30, 1, 6, 6, 3, 4);
  fs::copy_file(other + "/set/shard_00002.h5", shard(2), fs::copy_options::overwrite_existing);
  expect_error([&] { open_shard_set(manifest_); },
               {"shard_00002.h5: /images has shape [10,1,6,6], manifest says 1x8x8"});
}

TEST_F(DataErrors, ShardWithAnotherDtype) {
  const std::string other = dir_ + "/other";
  fs::create_directories(other);
  make_synthetic_shard_set(other, 30, 1, 8, 8, 3, 4, /*float32=*/true);
  fs::copy_file(other + "/set/shard_00000.h5", shard(0), fs::copy_options::overwrite_existing);
  expect_error([&] { open_shard_set(manifest_); }, {"shard_00000.h5: /images is float32, manifest says dtype uint8"});
}

TEST_F(DataErrors, ManifestCountWrong) {
  const std::string text = read_text(manifest_);
  write_text(manifest_, std::regex_replace(text, std::regex("count: 30"), "count: 31"));
  expect_error([&] { open_shard_set(manifest_); }, {"manifest.yaml", "'count' says 31 samples but the shards hold 30"});
}

TEST_F(DataErrors, ManifestShardCountDisagreesWithTheFile) {
  // Consistent manifest arithmetic (10+11+9 = 30), but shard 1 holds 10 samples, not 11.
  std::string text = read_text(manifest_);
  text = std::regex_replace(text, std::regex("count: 10, first: 10"), "count: 11, first: 10");
  text = std::regex_replace(text, std::regex("count: 10, first: 20"), "count: 9, first: 21");
  write_text(manifest_, text);
  expect_error([&] { open_shard_set(manifest_); }, {"shard_00001.h5: /images holds 10 samples, manifest says 11"});
}

TEST_F(DataErrors, ManifestFieldErrorsNameTheKey) {
  const std::string text = read_text(manifest_);
  write_text(manifest_, std::regex_replace(text, std::regex("dtype: uint8"), "dtype: int16"));
  expect_error([&] { open_shard_set(manifest_); }, {"manifest.yaml", "'dtype'", "int16"});
  write_text(manifest_, std::regex_replace(text, std::regex("height: 8\n"), ""));
  expect_error([&] { open_shard_set(manifest_); }, {"manifest.yaml", "missing key 'height'"});
  write_text(manifest_, std::regex_replace(text, std::regex("width: 8"), "width: wide"));
  expect_error([&] { open_shard_set(manifest_); }, {"manifest.yaml", "key 'width' (line", "expected an integer", "'wide'"});
  write_text(manifest_, std::regex_replace(text, std::regex("shard_00001.h5"), "../escape.h5"));
  expect_error([&] { open_shard_set(manifest_); }, {"manifest.yaml", "../escape.h5", "relative"});
  write_text(manifest_, "format: [unclosed");
  expect_error([&] { open_shard_set(manifest_); }, {"manifest.yaml", "not valid YAML"});
  expect_error([&] { open_shard_set(dir_ + "/nowhere/manifest.yaml"); }, {"nowhere/manifest.yaml", "does not exist"});
}

TEST_F(DataErrors, GlobalBatchNotDivisibleByWorld) {
  const ShardSetInfo info = open_shard_set(manifest_);
  LoaderOptions o;
  o.world = 3;
  o.rank = 1;
  o.global_batch = 10;
  expect_error([&] { DataLoader loader(info, o); }, {"global batch 10", "world size 3"});
  o.global_batch = 9;
  o.rank = 3;
  expect_error([&] { DataLoader loader(info, o); }, {"rank 3", "world size 3"});
  o.rank = 0;
  o.global_batch = 0;
  expect_error([&] { DataLoader loader(info, o); }, {"global batch must be >= 1"});
}

// Rewrites a shard's /images deflate-compressed in chunks of 2 samples (as h5py
// users may write them); when corrupt, overwrites the stored bytes of chunk 1, so
// HDF5 opens the file fine and fails only when that chunk is decoded.
void recompress_shard(const std::string& path, bool corrupt) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t d = H5Dopen2(f, "images", H5P_DEFAULT);
  hid_t space = H5Dget_space(d);
  hsize_t dims[4];
  H5Sget_simple_extent_dims(space, dims, nullptr);
  std::vector<uint8_t> data(dims[0] * dims[1] * dims[2] * dims[3]);
  H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
  H5Dclose(d);
  H5Ldelete(f, "images", H5P_DEFAULT);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  const hsize_t chunk[4] = {2, dims[1], dims[2], dims[3]};
  H5Pset_chunk(dcpl, 4, chunk);
  H5Pset_deflate(dcpl, 6);
  d = H5Dcreate2(f, "images", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  ASSERT_GE(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), 0);
  haddr_t offset = 0;
  hsize_t stored = 0;
  const hsize_t chunk1[4] = {2, 0, 0, 0};
  ASSERT_GE(H5Dget_chunk_info_by_coord(d, chunk1, nullptr, &offset, &stored), 0);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Dclose(d);
  H5Fclose(f);
  if (corrupt) {
    std::fstream io(path, std::ios::binary | std::ios::in | std::ios::out);
    io.seekp(std::streamoff(offset));
    io << std::string(size_t(stored), '\x5a');
  }
}

TEST_F(DataErrors, CompressedShardsAreReadCorrectly) {
  const ShardSetInfo info = open_shard_set(manifest_);
  std::vector<float> before(size_t(30 * info.sample_dim()));
  read_samples(info, 0, 30, true, before.data());
  recompress_shard(shard(1), /*corrupt=*/false);
  EXPECT_NO_THROW(open_shard_set(manifest_, /*verify_checksums=*/true));  // same bytes, same CRC
  for (int64_t budget : {int64_t(1) << 30, int64_t(1000)}) {
    LoaderOptions o;
    o.global_batch = 30;
    o.shuffle = false;
    o.memory_budget_bytes = budget;
    DataLoader loader(info, o);
    EXPECT_EQ(loader.cached_in_memory(), budget > 1000);
    EXPECT_EQ(loader.next().images, before);
  }
}

TEST_F(DataErrors, ReadFailureOnThePrefetchThreadSurfacesInNext) {
  const ShardSetInfo info = open_shard_set(manifest_);
  recompress_shard(shard(1), /*corrupt=*/true);
  ASSERT_NO_THROW(open_shard_set(manifest_));  // only the chunk's data is damaged
  LoaderOptions o;
  o.global_batch = 5;
  o.shuffle = false;
  o.prefetch_batches = 2;
  o.memory_budget_bytes = 1000;  // streaming
  DataLoader loader(info, o);
  // Samples 0..9 live in shard 0: those two batches are good; the third reads
  // shard 1's chunk 1 (its samples 2..3) and fails on the prefetch thread.
  EXPECT_EQ(loader.next().cursor, 0);
  EXPECT_EQ(loader.next().cursor, 5);
  expect_error([&] { loader.next(); }, {"shard_00001.h5", "reading /images samples"});
  expect_error([&] { loader.next(); }, {"shard_00001.h5"});  // stays failed
  loader.seek(0);                                           // a seek restarts the stream
  EXPECT_EQ(loader.next().cursor, 0);
  // Cached mode reads everything up front: the constructor fails.
  o.memory_budget_bytes = int64_t(1) << 30;
  expect_error([&] { DataLoader cached(info, o); }, {"shard_00001.h5", "reading /images samples"});
}

// The seal (issue 8, found by fuzzing: libhdf5 divides by zero in H5Dopen2 on a shard
// whose layout message was damaged): a changed shard file is refused, naming it and the
// manifest, before libhdf5 parses it; a changed size is caught without reading the file.
TEST_F(DataErrors, SealRefusesAChangedShardBeforeHdf5ParsesIt) {
  {
    std::ofstream restore(manifest_, std::ios::trunc);
    restore << sealed_manifest_text_;
  }
  EXPECT_NO_THROW(open_shard_set(manifest_));
  const std::string shard = dir_ + "/set/shard_00001.h5";
  std::string bytes = read_file(shard);
  bytes[bytes.size() / 3] = char(bytes[bytes.size() / 3] ^ 0x5a);  // same size, other content
  std::ofstream(shard, std::ios::binary | std::ios::trunc) << bytes;
  expect_error([&] { open_shard_set(manifest_); }, {"shard_00001.h5", "the file changed since", "manifest.yaml", "CRC32"});
  std::ofstream(shard, std::ios::binary | std::ios::app) << "x";
  expect_error([&] { open_shard_set(manifest_); }, {"shard_00001.h5", "the file changed since", "bytes"});
}

}  // namespace
}  // namespace elbo
