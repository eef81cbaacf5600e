// convert_to_shards and the shard-set files: round trip, manifest, CRCs, the
// inspect text, and the overwrite rules (refuse by default, never half-written).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "elbo/data/shard_set.h"
#include "elbo/error.h"
#include "support/synthetic_data.h"
#include "support/temp_dir_test.h"
#include "support/text_files.h"

namespace elbo {
namespace {

namespace fs = std::filesystem;


// The npy payload written by write_synthetic_npy: the bytes after the header.
std::string npy_payload(const std::string& path, size_t payload_bytes) {
  const std::string all = read_text(path);
  return all.substr(all.size() - payload_bytes);
}

class DataConvert : public TempDirTest {
 protected:
  DataConvert() : TempDirTest("elbo-data-convert") {}
};

TEST_F(DataConvert, RoundTripUint8WithLabels) {
  const int64_t n = 37;
  const std::string manifest = make_synthetic_shard_set(dir_, n, 2, 5, 6, 3, 42);
  EXPECT_EQ(manifest, dir_ + "/set/manifest.yaml");
  const ShardSetInfo info = open_shard_set(manifest, /*verify_checksums=*/true);
  EXPECT_EQ(info.count, n);
  EXPECT_EQ(info.channels, 2);
  EXPECT_EQ(info.height, 5);
  EXPECT_EQ(info.width, 6);
  EXPECT_TRUE(info.has_labels);
  ASSERT_EQ(info.shards.size(), 3u);
  // 37 = 13 + 12 + 12, numbered in order.
  EXPECT_EQ(info.shards[0].count, 13);
  EXPECT_EQ(info.shards[1].first, 13);
  EXPECT_EQ(info.shards[2].first, 25);
  EXPECT_EQ(info.shards[2].count, 12);

  const std::string raw = npy_payload(dir_ + "/images.npy", size_t(n) * info.sample_dim());
  std::vector<float> x(size_t(n * info.sample_dim()));
  std::vector<int32_t> labels(n);
  read_samples(info, 0, n, false, x.data(), labels.data());
  for (size_t i = 0; i < raw.size(); ++i) ASSERT_EQ(x[i], float(uint8_t(raw[i]))) << "element " << i;
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(labels[i], synthetic_label(42, i));

  // A range that spans a shard boundary, scaled.
  std::vector<float> part(size_t(5 * info.sample_dim()));
  std::vector<int32_t> part_labels(5);
  read_samples(info, 11, 5, true, part.data(), part_labels.data());
  for (size_t i = 0; i < part.size(); ++i)
    ASSERT_FLOAT_EQ(part[i], float(uint8_t(raw[11 * info.sample_dim() + i])) / 255.0f);
  EXPECT_EQ(part_labels[2], synthetic_label(42, 13));

  // The manifest's CRCs are zlib's CRC32 of each shard's image bytes.
  for (const ShardInfo& s : info.shards) {
    const size_t off = size_t(s.first * info.sample_dim()), len = size_t(s.count * info.sample_dim());
    EXPECT_EQ(s.crc32, uint32_t(crc32(0, reinterpret_cast<const Bytef*>(raw.data() + off), uInt(len)))) << s.file;
  }
}

TEST_F(DataConvert, Float32RoundTripIsExact) {
  const std::string manifest = make_synthetic_shard_set(dir_, 9, 1, 4, 4, 2, 7, /*float32=*/true);
  const ShardSetInfo info = open_shard_set(manifest, true);
  EXPECT_EQ(info.dtype, PixelType::kFloat32);
  std::vector<float> x(size_t(9 * 16));
  read_samples(info, 0, 9, /*scale=*/true, x.data());  // float data are never rescaled
  for (int64_t i = 0; i < 9; ++i)
    for (int y = 0; y < 4; ++y)
      for (int xx = 0; xx < 4; ++xx)
        ASSERT_EQ(x[size_t(i * 16 + y * 4 + xx)], synthetic_pixel(7, i, 0, y, xx, 1, 4, 4));
}

TEST_F(DataConvert, SyntheticImagesHaveStructure) {
  // Not noise: mostly dark background with a bright stroke; labels cover all 10 classes.
  const std::string manifest = make_synthetic_shard_set(dir_, 200, 1, 16, 16, 1, 3);
  const ShardSetInfo info = open_shard_set(manifest);
  std::vector<float> x(size_t(200 * 256));
  std::vector<int32_t> labels(200);
  read_samples(info, 0, 200, true, x.data(), labels.data());
  int dark = 0, bright = 0;
  for (float v : x) {
    dark += v < 0.1f;
    bright += v > 0.5f;
  }
  EXPECT_GT(dark, int(x.size() / 2));
  EXPECT_GT(bright, int(x.size() / 50));
  std::vector<int> seen(10, 0);
  for (int32_t l : labels) ++seen[l];
  for (int c = 0; c < 10; ++c) EXPECT_GT(seen[c], 0) << c;
}

TEST_F(DataConvert, ManifestAndShardLayoutAreReadableByOtherTools) {
  const std::string manifest = make_synthetic_shard_set(dir_, 20, 1, 3, 3, 2, 1);
  const std::string text = read_text(manifest);
  for (const char* key : {"format: elbo-shards", "version: 1", "count: 20", "channels: 1", "height: 3",
                          "width: 3", "dtype: uint8", "has_labels: true", "shard_00000.h5", "shard_00001.h5",
                          "crc32:"})
    EXPECT_NE(text.find(key), std::string::npos) << key << "\n" << text;
  // The HDF5 layout of the docs: /images [n,C,H,W] chunked by samples, /labels int32 [n].
  hid_t f = H5Fopen((dir_ + "/set/shard_00001.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t d = H5Dopen2(f, "images", H5P_DEFAULT);
  hid_t space = H5Dget_space(d);
  hsize_t dims[4];
  ASSERT_EQ(H5Sget_simple_extent_dims(space, dims, nullptr), 4);
  EXPECT_EQ(dims[0], 10u);
  hid_t dcpl = H5Dget_create_plist(d);
  EXPECT_EQ(H5Pget_layout(dcpl), H5D_CHUNKED);
  hsize_t chunk[4];
  H5Pget_chunk(dcpl, 4, chunk);
  EXPECT_EQ(chunk[0], 10u);  // min(chunk_samples = 16, shard count)
  hid_t l = H5Dopen2(f, "labels", H5P_DEFAULT);
  hid_t ltype = H5Dget_type(l);
  EXPECT_TRUE(H5Tequal(ltype, H5T_STD_I32LE) > 0);
  H5Tclose(ltype);
  H5Dclose(l);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Dclose(d);
  H5Fclose(f);
}

// The manifest records each shard's label range, so that a conditional model's
// model.classes is checked before training; older manifests without it still load.
TEST_F(DataConvert, LabelRangeRecordedCheckedAndOptional) {
  const std::string manifest = make_synthetic_shard_set(dir_, 37, 1, 4, 4, 3, 42);
  const ShardSetInfo info = open_shard_set(manifest);
  int32_t highest = 0;
  for (const ShardInfo& s : info.shards) {
    int32_t lo = 99, hi = -1;
    for (int64_t i = s.first; i < s.first + s.count; ++i)
      lo = std::min(lo, int32_t(synthetic_label(42, i))), hi = std::max(hi, int32_t(synthetic_label(42, i)));
    ASSERT_TRUE(s.has_label_range) << s.file;
    EXPECT_EQ(s.label_min, lo) << s.file;
    EXPECT_EQ(s.label_max, hi) << s.file;
    highest = std::max(highest, hi);
  }
  EXPECT_NO_THROW(check_label_range(info, highest + 1, "data.train"));
  try {
    check_label_range(info, highest, "data.train");
    FAIL() << "a label equal to model.classes was accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& want : {std::string("data.train: "), std::string("/shard_0000"),
                                    "holds label " + std::to_string(highest), std::string("model.classes = ")})
      EXPECT_NE(msg.find(want), std::string::npos) << "missing '" << want << "' in " << msg;
  }

  // A manifest written before the label range: no range, nothing refused up front.
  const std::string text = read_text(manifest);
  const std::string old = std::regex_replace(text, std::regex(", label_min: -?[0-9]+, label_max: -?[0-9]+"), "");
  ASSERT_NE(old, text);
  std::ofstream(manifest, std::ios::trunc) << old;
  const ShardSetInfo before = open_shard_set(manifest);
  for (const ShardInfo& s : before.shards) EXPECT_FALSE(s.has_label_range) << s.file;
  EXPECT_NO_THROW(check_label_range(before, 1, "data.train"));
}

TEST_F(DataConvert, InspectText) {
  const std::string manifest = make_synthetic_shard_set(dir_, 30, 3, 4, 5, 2, 9);
  const ShardSetInfo info = open_shard_set(manifest);
  const std::string text = describe_shard_set(info);
  for (const std::string& want : {manifest, std::string("samples     30"), std::string("3x4x5 uint8"),
                                  std::string("60 bytes per sample"), std::string("labels      yes"),
                                  std::string("in 2 shards"), std::string("shard_00000.h5  samples 0..14 (15)"),
                                  std::string("shard_00001.h5  samples 15..29 (15)")})
    EXPECT_NE(text.find(want), std::string::npos) << "missing '" << want << "' in\n" << text;
  char crc[16];
  std::snprintf(crc, sizeof crc, "0x%08x", info.shards[1].crc32);
  EXPECT_NE(text.find(crc), std::string::npos) << text;
}

TEST_F(DataConvert, VerifyDetectsChangedBytes) {
  const std::string manifest = make_synthetic_shard_set(dir_, 12, 1, 4, 4, 2, 5);
  unseal_manifest(manifest);  // the image checksums behind the whole-file seal
  ShardSetInfo info = open_shard_set(manifest, true);
  // Overwrite one sample in shard 1 through HDF5: the file stays valid, the CRC does not.
  hid_t f = H5Fopen((dir_ + "/set/shard_00001.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t d = H5Dopen2(f, "images", H5P_DEFAULT);
  std::vector<uint8_t> all(6 * 16);
  H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, all.data());
  all[20] ^= 0xff;
  H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, all.data());
  H5Dclose(d);
  H5Fclose(f);
  EXPECT_NO_THROW(open_shard_set(manifest, false));
  try {
    open_shard_set(manifest, true);
    FAIL() << "verify passed on a modified shard";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shard_00001.h5: CRC32 of /images is"), std::string::npos) << e.what();
  }
}

TEST_F(DataConvert, RefusesToOverwriteAndLeavesTheSetIntact) {
  const std::string manifest = make_synthetic_shard_set(dir_, 40, 1, 4, 4, 7, 1);
  const std::string before = read_text(manifest);
  ConvertOptions o;
  o.image_files = {write_synthetic_npy(dir_ + "/other.npy", 10, 1, 4, 4, 2)};
  o.out_dir = dir_ + "/set";
  o.shards = 3;
  try {
    convert_to_shards(o);
    FAIL() << "convert replaced an existing set";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("manifest.yaml already exists"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_text(manifest), before);
  EXPECT_NO_THROW(open_shard_set(manifest, true));

  // A failing convert with overwrite (input truncated)
  // also leaves the old set as it was, and no temp dir behind.
  const std::string cut = write_synthetic_npy(dir_ + "/cut.npy", 50, 1, 4, 4, 3);
  fs::resize_file(cut, fs::file_size(cut) - 100);
  o.image_files = {cut};
  o.overwrite = true;
  EXPECT_THROW(convert_to_shards(o), Error);
  EXPECT_EQ(read_text(manifest), before);
  EXPECT_NO_THROW(open_shard_set(manifest, true));
  for (const auto& entry : fs::directory_iterator(dir_ + "/set"))
    EXPECT_EQ(entry.path().filename().string().find(".convert-tmp"), std::string::npos) << entry.path();

  // With overwrite and good input: replaced, and the old set's extra shards are gone.
  o.image_files = {dir_ + "/other.npy"};
  const ShardSetInfo info = convert_to_shards(o);
  EXPECT_EQ(info.count, 10);
  EXPECT_FALSE(info.has_labels);
  EXPECT_EQ(info.shards.size(), 3u);
  EXPECT_NO_THROW(open_shard_set(manifest, true));
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_ + "/set")) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 4) << "expected manifest.yaml + 3 shards";
}

TEST_F(DataConvert, BadOptions) {
  ConvertOptions o;
  o.out_dir = dir_ + "/out";
  EXPECT_THROW(convert_to_shards(o), Error);  // no images
  o.image_files = {write_synthetic_npy(dir_ + "/x.npy", 5, 1, 2, 2, 1)};
  o.shards = 6;
  try {
    convert_to_shards(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--shards 6 is more than the 5 samples"), std::string::npos) << e.what();
  }
  o.shards = 0;
  EXPECT_THROW(convert_to_shards(o), Error);
  o.shards = 1;
  o.chunk_samples = 0;
  EXPECT_THROW(convert_to_shards(o), Error);
  EXPECT_FALSE(fs::exists(dir_ + "/out"));
}

}  // namespace
}  // namespace elbo
