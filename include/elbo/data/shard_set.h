// A shard set: N HDF5 files holding images (and optional labels) plus a manifest.
//   <dir>/manifest.yaml   format, sample count, image shape, dtype, shard list with
//                         per-shard sample counts and CRC32 of the image bytes
//   <dir>/shard_00000.h5  /images uint8|float32 [n, C, H, W] (chunked), /labels int32 [n] (optional)
// Samples are numbered globally 0..count-1 in shard order.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "elbo/tensor.h"

namespace elbo {

enum class PixelType { kUInt8, kFloat32 };

struct ShardInfo {
  std::string file;         // path relative to the manifest's directory
  int64_t count = 0;        // samples in this shard
  int64_t first = 0;        // global index of its first sample
  uint32_t crc32 = 0;       // CRC32 of the shard's image bytes, row-major
  // The file as written (manifests since this field; 0 bytes: unknown, as in older
  // ones): checked before libhdf5 parses the file, which it cannot do safely when
  // the file's metadata is damaged (see open_shard_set).
  int64_t file_bytes = 0;
  uint32_t file_crc32 = 0;  // CRC32 of the whole file
  // The shard's smallest and largest label (labelled sets, manifests since these fields;
  // older ones lack them): a conditional model's classes are checked against them before
  // training, instead of when the batch holding a bad label is read, maybe hours in.
  bool has_label_range = false;
  int32_t label_min = 0, label_max = 0;
};

struct ShardSetInfo {
  std::string manifest_path;  // as given
  std::string dir;            // the manifest's directory
  int64_t count = 0;
  int channels = 1, height = 0, width = 0;
  PixelType dtype = PixelType::kUInt8;
  bool has_labels = false;
  std::vector<ShardInfo> shards;

  int64_t sample_dim() const { return int64_t(channels) * height * width; }
  Shape sample_shape() const { return Shape::images(1, channels, height, width); }
  int64_t bytes_per_sample() const { return sample_dim() * (dtype == PixelType::kUInt8 ? 1 : 4); }
};

// Reads and checks a manifest: every shard file exists, opens, and has the declared
// count, shape and dtype. Errors name the manifest or shard file and what differs.
// Before libhdf5 opens a shard, its size is compared with the manifest's, and for sets
// of at most kShardSealMaxBytes in all (or with verify_checksums) the CRC32 of the
// whole file too: libhdf5 can crash on damaged metadata, so a changed file must be
// refused before it parses it. Image checksums are verified only when verify_checksums
// (it reads every byte through HDF5).
ShardSetInfo open_shard_set(const std::string& manifest_path, bool verify_checksums = false);
constexpr int64_t kShardSealMaxBytes = int64_t(2) << 30;
// Records a written shard file's size and whole-file CRC32 in `shard` (data convert).
void seal_shard_file(const std::string& path, ShardInfo& shard);

// Throws unless every label the manifest records lies in 0..classes-1 (model.classes of a
// conditional model); `key` is how the set was given ("data.train"). The error names the
// shard file, the label and model.classes. Shards without a recorded range (older
// manifests) pass: their labels are still checked as they are read.
void check_label_range(const ShardSetInfo& info, int classes, const std::string& key);

// The path of the shard file holding global sample `sample` (for messages).
std::string shard_file_of(const ShardSetInfo& info, int64_t sample);

// Human-readable summary for `elbo data inspect`.
std::string describe_shard_set(const ShardSetInfo& info);

struct ConvertOptions {
  std::vector<std::string> image_files;  // IDX (.gz or not) or .npy; several are concatenated
  std::vector<std::string> label_files;  // optional, same count of samples
  std::string out_dir;
  int shards = 4;
  int64_t chunk_samples = 64;            // HDF5 chunk: this many samples
  bool overwrite = false;                // refuse to replace an existing manifest unless set
  // Called after each slab written: samples converted so far, samples in all (progress lines).
  std::function<void(int64_t done, int64_t total)> on_progress;
};
// Converts images to a shard set; returns the written set. Errors name the input file.
ShardSetInfo convert_to_shards(const ConvertOptions& options);

// Reads samples [begin, begin+count) as float32, in global order, into out
// (count * sample_dim floats); uint8 is divided by 255 when scale is set.
void read_samples(const ShardSetInfo& info, int64_t begin, int64_t count, bool scale, float* out,
                  int32_t* labels_out = nullptr);

}  // namespace elbo
