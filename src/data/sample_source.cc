#include "sample_source.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "elbo/error.h"
#include "elbo/io/crc32.h"
#include "manifest.h"
#include "shard_file.h"

namespace elbo::detail {
namespace {

class CachedSource : public SampleSource {
 public:
  explicit CachedSource(const ShardSetInfo& info) : info_(info) {
    bytes_.resize(static_cast<size_t>(info.count * info.bytes_per_sample()));
    if (info.has_labels) labels_.resize(static_cast<size_t>(info.count));
    int64_t sealed_bytes = 0;
    for (const ShardInfo& shard : info.shards) sealed_bytes += shard.file_bytes;
    const bool seal_checked = sealed_bytes > 0 && sealed_bytes <= kShardSealMaxBytes;
    for (const ShardInfo& shard : info.shards) {
      const std::string path = shard_file_path(info, shard);
      unsigned char* bytes = bytes_.data() + shard.first * info.bytes_per_sample();
      ShardReader reader(path, info, shard.count);
      reader.read_range(0, shard.count, bytes, info.has_labels ? labels_.data() + shard.first : nullptr);
      // A sealed set of up to kShardSealMaxBytes was checked whole when it was opened
      // (open_shard_set); otherwise the shard is in memory now anyway, so checking its
      // images against the manifest costs one CRC pass and catches a shard changed or
      // damaged since the set was written, which would otherwise train on other data.
      if (seal_checked && shard.file_bytes > 0) continue;
      const uint32_t crc = crc32_bytes(bytes, size_t(shard.count * info.bytes_per_sample()));
      ELBO_CHECK(crc == shard.crc32, path << ": the images changed since " << info.manifest_path
                                          << " was written (CRC32 " << crc_text(crc) << ", the manifest says "
                                          << crc_text(shard.crc32)
                                          << "); convert the data again or restore the original shard");
    }
  }

  void fetch(const std::vector<int64_t>& ids, const PixelTransform& transform, float* images,
             int32_t* labels) override {
    const int64_t dim = info_.sample_dim(), bps = info_.bytes_per_sample();
    for (size_t k = 0; k < ids.size(); ++k) {
      transform.apply(bytes_.data() + ids[k] * bps, dim, images + int64_t(k) * dim);
      if (labels != nullptr) labels[k] = labels_[static_cast<size_t>(ids[k])];
    }
  }

 private:
  ShardSetInfo info_;
  std::vector<unsigned char> bytes_;
  std::vector<int32_t> labels_;
};

class StreamingSource : public SampleSource {
 public:
  StreamingSource(const ShardSetInfo& info, int64_t chunk_cache_bytes) : info_(info) {
    for (const ShardInfo& shard : info.shards) {
      readers_.push_back(std::make_unique<ShardReader>(shard_file_path(info, shard), info, shard.count,
                                                       chunk_cache_bytes));
      firsts_.push_back(shard.first);
    }
    by_shard_.resize(info.shards.size());
  }

  void fetch(const std::vector<int64_t>& ids, const PixelTransform& transform, float* images,
             int32_t* labels) override {
    const int64_t dim = info_.sample_dim(), bps = info_.bytes_per_sample();
    // Group the batch by shard: (row within the shard, output row).
    for (auto& v : by_shard_) v.clear();
    for (size_t k = 0; k < ids.size(); ++k) {
      const size_t s = static_cast<size_t>(std::upper_bound(firsts_.begin(), firsts_.end(), ids[k]) - firsts_.begin()) - 1;
      by_shard_[s].emplace_back(ids[k] - firsts_[s], int64_t(k));
    }
    for (size_t s = 0; s < by_shard_.size(); ++s) {
      auto& wanted = by_shard_[s];
      if (wanted.empty()) continue;
      // HDF5 reads a selection in file order: sort, and read each row once.
      std::sort(wanted.begin(), wanted.end());
      rows_.clear();
      for (const auto& w : wanted)
        if (rows_.empty() || rows_.back() != w.first) rows_.push_back(w.first);
      staging_.resize(rows_.size() * static_cast<size_t>(bps));
      staging_labels_.resize(labels != nullptr ? rows_.size() : 0);
      readers_[s]->read_rows(rows_, staging_.data(), labels != nullptr ? staging_labels_.data() : nullptr);
      size_t r = 0;
      for (const auto& w : wanted) {
        while (rows_[r] != w.first) ++r;
        transform.apply(staging_.data() + r * static_cast<size_t>(bps), dim, images + w.second * dim);
        if (labels != nullptr) labels[w.second] = staging_labels_[r];
      }
    }
  }

 private:
  ShardSetInfo info_;
  std::vector<std::unique_ptr<ShardReader>> readers_;
  std::vector<int64_t> firsts_;
  // Scratch reused across batches (fetch runs on one thread at a time).
  std::vector<std::vector<std::pair<int64_t, int64_t>>> by_shard_;
  std::vector<int64_t> rows_;
  std::vector<unsigned char> staging_;
  std::vector<int32_t> staging_labels_;
};

}  // namespace

std::unique_ptr<SampleSource> make_cached_source(const ShardSetInfo& info) {
  return std::make_unique<CachedSource>(info);
}

std::unique_ptr<SampleSource> make_streaming_source(const ShardSetInfo& info, int64_t chunk_cache_bytes_per_shard) {
  return std::make_unique<StreamingSource>(info, chunk_cache_bytes_per_shard);
}

}  // namespace elbo::detail
