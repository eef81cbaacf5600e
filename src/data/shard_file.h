// One HDF5 shard: /images [n,C,H,W] uint8|float32, chunked by samples, and
// optionally /labels int32 [n]. Every method (constructors and destructors too)
// runs inside an h5::Session, i.e. holds the process-wide HDF5 lock, so shards may
// be used from the prefetch thread while rank 0 writes a checkpoint.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "elbo/data/shard_set.h"
#include "elbo/io/hdf5_util.h"

namespace elbo::detail {

class ShardWriter {
 public:
  // Creates the file (it must not exist) and its datasets for `count` samples.
  ShardWriter(const std::string& path, int64_t count, int channels, int height, int width,
              PixelType dtype, bool has_labels, int64_t chunk_samples);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Writes the next n samples (raw bytes as stored; labels when has_labels).
  void append(const void* images, const int32_t* labels, int64_t n);
  // Closes and fsyncs the file after checking every sample was written; returns the
  // CRC32 of the image bytes.
  uint32_t finish();

 private:
  std::string path_;
  int64_t count_ = 0, written_ = 0, bytes_per_sample_ = 0;
  std::vector<hsize_t> dims_;
  bool has_labels_ = false;
  PixelType dtype_ = PixelType::kUInt8;
  uint32_t crc_ = 0;
  h5::Handle file_, images_, labels_;
};

class ShardReader {
 public:
  // Opens the shard file and checks it against the set and the manifest's count:
  // missing file, not HDF5 / truncated, missing dataset, shape, dtype, labels.
  // chunk_cache_bytes >= 0 bounds HDF5's chunk cache for /images (used only when the
  // chunks are compressed; plain chunks are read uncached).
  ShardReader(const std::string& path, const ShardSetInfo& set, int64_t expected_count,
              int64_t chunk_cache_bytes = -1);
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  const std::string& path() const { return path_; }
  int64_t count() const { return count_; }

  // Samples [begin, begin+n) as stored, into images (n rows) and labels (if non-null).
  void read_range(int64_t begin, int64_t n, void* images, int32_t* labels);
  // The given local rows, strictly increasing, into consecutive output rows.
  void read_rows(const std::vector<int64_t>& rows, void* images, int32_t* labels);

 private:
  // Caller holds the session.
  void read_run(int64_t begin, int64_t n, void* images, int32_t* labels);
  std::string path_;
  int64_t count_ = 0;
  std::vector<hsize_t> dims_;
  PixelType dtype_ = PixelType::kUInt8;
  h5::Handle file_, images_, labels_;
};

}  // namespace elbo::detail
