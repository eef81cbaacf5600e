// Input parsing of `elbo data convert`: IDX (plain and gzip) and .npy (v1/v2/v3),
// checked end to end through convert_to_shards + read_samples, and every malformed
// input rejected with a message that names the file and the problem.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "elbo/data/shard_set.h"
#include "elbo/error.h"
#include "support/synthetic_data.h"

namespace elbo {
namespace {

std::string bytes_0_to(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + 3) % 256);
  return s;
}

template <typename T>
std::string as_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

ShardSetInfo convert(const std::string& dir, std::vector<std::string> images, std::vector<std::string> labels = {},
                     int shards = 2) {
  ConvertOptions o;
  o.image_files = std::move(images);
  o.label_files = std::move(labels);
  o.out_dir = dir + "/set";
  o.shards = shards;
  o.chunk_samples = 3;
  return convert_to_shards(o);
}

// Expects convert to fail with a message holding every fragment.
void expect_convert_error(const std::string& dir, const std::vector<std::string>& images,
                          const std::vector<std::string>& labels, const std::vector<std::string>& fragments) {
  try {
    convert(dir, images, labels);
    FAIL() << "convert succeeded, expected an error with '" << fragments.front() << "'";
  } catch (const Error& e) {
    for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/set")) << "a failed convert left its output directory";
}

std::vector<float> all_samples(const ShardSetInfo& info, bool scale, std::vector<int32_t>* labels = nullptr) {
  std::vector<float> out(static_cast<size_t>(info.count * info.sample_dim()));
  if (labels != nullptr) labels->resize(static_cast<size_t>(info.count));
  read_samples(info, 0, info.count, scale, out.data(), labels != nullptr ? labels->data() : nullptr);
  return out;
}

class DataInputs : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir("elbo-data-inputs"); }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(DataInputs, IdxPlainAndGzipGiveTheSameSet) {
  const std::string pixels = bytes_0_to(5 * 4 * 3);
  const std::string labels = std::string("\x01\x00\x09\x04\x02", 5);
  for (bool gz : {false, true}) {
    const std::string sub = dir_ + (gz ? "/gz" : "/plain");
    std::filesystem::create_directories(sub);
    const auto img = write_idx(sub + (gz ? "/img.idx.gz" : "/img.idx"), {5, 4, 3}, pixels, gz);
    const auto lab = write_idx(sub + (gz ? "/lab.idx.gz" : "/lab.idx"), {5}, labels, gz);
    const ShardSetInfo info = convert(sub, {img}, {lab});
    EXPECT_EQ(info.count, 5);
    EXPECT_EQ(info.channels, 1);
    EXPECT_EQ(info.height, 4);
    EXPECT_EQ(info.width, 3);
    EXPECT_EQ(info.dtype, PixelType::kUInt8);
    ASSERT_TRUE(info.has_labels);
    std::vector<int32_t> got_labels;
    const std::vector<float> raw = all_samples(info, false, &got_labels);
    for (size_t i = 0; i < pixels.size(); ++i) ASSERT_EQ(raw[i], float(uint8_t(pixels[i]))) << i;
    EXPECT_EQ(got_labels, (std::vector<int32_t>{1, 0, 9, 4, 2}));
    const std::vector<float> scaled = all_samples(info, true);
    EXPECT_FLOAT_EQ(scaled[7], float(uint8_t(pixels[7])) / 255.0f);
  }
}

TEST_F(DataInputs, RealFashionMnistTestSet) {
  const std::string img = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  const std::string lab = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  if (!std::filesystem::exists(img)) GTEST_SKIP() << img << " is not installed on this machine";
  const ShardSetInfo info = convert(dir_, {img}, {lab}, 3);
  EXPECT_EQ(info.count, 10000);
  EXPECT_EQ(info.height, 28);
  EXPECT_EQ(info.width, 28);
  std::vector<int32_t> labels;
  const std::vector<float> x = all_samples(info, true, &labels);
  std::vector<int> per_class(10, 0);
  for (int32_t l : labels) {
    ASSERT_TRUE(l >= 0 && l < 10);
    ++per_class[l];
  }
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 1000);  // the t10k split is balanced
  for (float v : x) ASSERT_TRUE(v >= 0.0f && v <= 1.0f);
}

TEST_F(DataInputs, NpyVersionsShapesAndDtypes) {
  // v1 uint8 [n,H,W] -> C=1.
  const std::string u8 = bytes_0_to(4 * 2 * 3);
  ShardSetInfo a = convert(dir_ + "/a", {write_npy(dir_ + "/a.npy", "|u1", {4, 2, 3}, u8, 1)});
  EXPECT_EQ(a.channels, 1);
  EXPECT_EQ(a.height, 2);
  EXPECT_EQ(a.width, 3);
  EXPECT_FALSE(a.has_labels);
  std::vector<float> got = all_samples(a, false);
  for (size_t i = 0; i < u8.size(); ++i) ASSERT_EQ(got[i], float(uint8_t(u8[i])));

  // v2 and v3 float32 [n,C,H,W], stored and read back exactly (no scaling of floats).
  std::vector<float> f(3 * 2 * 2 * 2);
  for (size_t i = 0; i < f.size(); ++i) f[i] = 0.125f * float(i) - 1.0f;
  for (int version : {2, 3}) {
    const std::string name = "/f" + std::to_string(version);
    ShardSetInfo b = convert(dir_ + name, {write_npy(dir_ + name + ".npy", "<f4", {3, 2, 2, 2}, as_bytes(f), version)},
                             {write_npy(dir_ + name + "_lab.npy", "<i4", {3}, as_bytes(std::vector<int32_t>{7, 8, 9}))});
    EXPECT_EQ(b.dtype, PixelType::kFloat32);
    EXPECT_EQ(b.channels, 2);
    std::vector<int32_t> labels;
    EXPECT_EQ(all_samples(b, true, &labels), f);
    EXPECT_EQ(labels, (std::vector<int32_t>{7, 8, 9}));
  }
}

TEST_F(DataInputs, LabelDtypesUint8Int32Int64) {
  const std::string img = write_npy(dir_ + "/img.npy", "|u1", {3, 2, 2}, bytes_0_to(12));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"|u1", std::string("\x02\x05\x00", 3)},
      {"<i4", as_bytes(std::vector<int32_t>{2, 5, 0})},
      {"<i8", as_bytes(std::vector<int64_t>{2, 5, 0})}};
  int k = 0;
  for (const auto& c : cases) {
    const std::string sub = dir_ + "/l" + std::to_string(k++);
    const ShardSetInfo info = convert(sub, {img}, {write_npy(sub + ".npy", c.first, {3}, c.second)});
    std::vector<int32_t> labels;
    all_samples(info, true, &labels);
    EXPECT_EQ(labels, (std::vector<int32_t>{2, 5, 0})) << c.first;
  }
}

TEST_F(DataInputs, SeveralFilesAreConcatenatedInOrder) {
  const std::string p1 = bytes_0_to(2 * 2 * 2), p2 = std::string(3 * 2 * 2, '\x11');
  const auto i1 = write_npy(dir_ + "/i1.npy", "|u1", {2, 2, 2}, p1);
  const auto i2 = write_idx(dir_ + "/i2.idx.gz", {3, 2, 2}, p2, true);
  // Label files split differently from the image files: only totals must agree.
  const auto l1 = write_npy(dir_ + "/l1.npy", "|u1", {4}, std::string("\x00\x01\x02\x03", 4));
  const auto l2 = write_idx(dir_ + "/l2.idx", {1}, std::string("\x04", 1), false);
  const ShardSetInfo info = convert(dir_, {i1, i2}, {l1, l2}, 2);
  ASSERT_EQ(info.count, 5);
  std::vector<int32_t> labels;
  const std::vector<float> x = all_samples(info, false, &labels);
  const std::string all = p1 + p2;
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(x[i], float(uint8_t(all[i])));
  EXPECT_EQ(labels, (std::vector<int32_t>{0, 1, 2, 3, 4}));
}

TEST_F(DataInputs, BadMagic) {
  std::ofstream(dir_ + "/junk.bin") << "PK\x03\x04 this is a zip file";
  expect_convert_error(dir_, {dir_ + "/junk.bin"}, {}, {"junk.bin", "neither an IDX nor a .npy"});
  std::ofstream(dir_ + "/idx_bad.bin") << std::string("\x00\x01\x08\x03", 4);
  expect_convert_error(dir_, {dir_ + "/idx_bad.bin"}, {}, {"idx_bad.bin", "not an IDX file"});
  std::ofstream(dir_ + "/npy_bad.npy") << std::string("\x93NUMPX\x01\x00", 8);
  expect_convert_error(dir_, {dir_ + "/npy_bad.npy"}, {}, {"npy_bad.npy", "not a .npy file"});
  std::ofstream(dir_ + "/empty.npy");
  expect_convert_error(dir_, {dir_ + "/empty.npy"}, {}, {"empty.npy", "empty"});
  expect_convert_error(dir_, {dir_ + "/missing.idx"}, {}, {"missing.idx", "cannot open"});
}

TEST_F(DataInputs, TruncatedFiles) {
  // Header says 10 samples of 2x2, data holds 7.
  const auto idx = write_idx(dir_ + "/short.idx", {10, 2, 2}, bytes_0_to(7 * 4), false);
  expect_convert_error(dir_, {idx}, {}, {"short.idx", "truncated"});
  const auto npy = write_npy(dir_ + "/short.npy", "<f4", {4, 1, 2, 2}, std::string(60, '\0'));
  expect_convert_error(dir_, {npy}, {}, {"short.npy", "truncated"});
  // A gzip stream cut in the middle.
  const auto gz = write_idx(dir_ + "/cut.idx.gz", {50, 8, 8}, bytes_0_to(50 * 64), true);
  std::filesystem::resize_file(gz, std::filesystem::file_size(gz) / 2);
  expect_convert_error(dir_, {gz}, {}, {"cut.idx.gz", "truncated"});
  // A header declaring far more than the file holds is refused at once, before convert
  // allocates a slab of samples for it (fuzz_idx found 18 bytes that asked for 2.4 GB).
  const auto huge = write_idx(dir_ + "/huge.idx", {393216, 16384, 37265}, "\xe0\x42", false);
  expect_convert_error(dir_, {huge}, {}, {"huge.idx", "truncated", "header declares 393216 samples"});
  const auto huge_gz = write_idx(dir_ + "/huge.idx.gz", {60000, 65536, 65536}, "", true);
  expect_convert_error(dir_, {huge_gz}, {}, {"huge.idx.gz", "truncated"});
  const auto huge_npy = write_npy(dir_ + "/huge.npy", "<f4", {1, 65536, 65536}, "");
  expect_convert_error(dir_, {huge_npy}, {}, {"huge.npy", "truncated"});
  const auto many_labels = write_npy(dir_ + "/labels.npy", "<i8", {1000000}, std::string(80, '\0'));
  const auto two = write_idx(dir_ + "/two.idx", {2, 2, 2}, bytes_0_to(8), false);
  expect_convert_error(dir_, {two}, {many_labels}, {"labels.npy", "truncated", "1000000 labels"});
  // Header cut short.
  std::ofstream(dir_ + "/hdr.idx") << std::string("\x00\x00\x08\x03\x00\x00", 6);
  expect_convert_error(dir_, {dir_ + "/hdr.idx"}, {}, {"hdr.idx", "truncated", "dimension"});
}

TEST_F(DataInputs, TrailingBytesAreAnError) {
  const auto idx = write_idx(dir_ + "/long.idx", {2, 2, 2}, bytes_0_to(9), false);
  expect_convert_error(dir_, {idx}, {}, {"long.idx", "unexpected bytes after the 2 samples"});
}

TEST_F(DataInputs, UnsupportedNpyHeaders) {
  const std::string data(2 * 2 * 2 * 4, '\0');
  expect_convert_error(dir_, {write_npy(dir_ + "/fo.npy", "<f4", {2, 2, 2}, data, 1, true)}, {},
                       {"fo.npy", "Fortran order"});
  expect_convert_error(dir_, {write_npy(dir_ + "/be.npy", ">f4", {2, 2, 2}, data)}, {}, {"be.npy", "big-endian"});
  expect_convert_error(dir_, {write_npy(dir_ + "/f8.npy", "<f8", {1, 2, 2}, data)}, {}, {"f8.npy", "'<f8'", "not supported"});
  expect_convert_error(dir_, {write_npy(dir_ + "/i4.npy", "<i4", {2, 2, 2}, data)}, {},
                       {"i4.npy", "images must be uint8 or float32"});
  expect_convert_error(dir_, {write_npy(dir_ + "/2d.npy", "|u1", {4, 2}, std::string(8, '\0'))}, {},
                       {"2d.npy", "[n,H,W] or [n,C,H,W]", "[4,2]"});
  // IDX holds no channel dimension: 4-dim IDX is refused.
  expect_convert_error(dir_, {write_idx(dir_ + "/4d.idx", {1, 1, 2, 2}, std::string(4, '\0'), false)}, {},
                       {"4d.idx", "[n,H,W]", "[1,1,2,2]"});
}

TEST_F(DataInputs, BadLabels) {
  const auto img = write_npy(dir_ + "/img.npy", "|u1", {3, 2, 2}, bytes_0_to(12));
  expect_convert_error(dir_, {img}, {write_npy(dir_ + "/few.npy", "|u1", {2}, std::string(2, '\0'))},
                       {"few.npy", "hold 2 labels", "img.npy", "3 samples"});
  expect_convert_error(dir_, {img}, {write_npy(dir_ + "/neg.npy", "<i8", {3}, as_bytes(std::vector<int64_t>{0, -1, 2}))},
                       {"neg.npy", "label -1 at index 1"});
  expect_convert_error(dir_, {img}, {write_npy(dir_ + "/flt.npy", "<f4", {3}, std::string(12, '\0'))},
                       {"flt.npy", "labels must be integers"});
  expect_convert_error(dir_, {img}, {write_npy(dir_ + "/2d.npy", "|u1", {3, 1}, std::string(3, '\0'))},
                       {"2d.npy", "one-dimensional"});
}

TEST_F(DataInputs, MismatchedImageFiles) {
  const auto a = write_npy(dir_ + "/a.npy", "|u1", {2, 2, 2}, std::string(8, '\0'));
  const auto b = write_npy(dir_ + "/b.npy", "|u1", {2, 3, 2}, std::string(12, '\0'));
  expect_convert_error(dir_, {a, b}, {}, {"b.npy", "1x3x2", "a.npy", "1x2x2", "must match"});
}

}  // namespace
}  // namespace elbo
