// Where the loader gets sample rows from: a RAM copy of the set (cached mode) or
// the shard files, read per batch (streaming mode). See memory_plan.h.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "elbo/data/shard_set.h"
#include "pixels.h"

namespace elbo::detail {

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  // Row k of images (sample_dim floats) and labels[k] (when non-null) receive
  // dataset sample ids[k]. ids may be in any order and may repeat (a batch that
  // straddles two epochs, or is larger than the set).
  virtual void fetch(const std::vector<int64_t>& ids, const PixelTransform& transform, float* images,
                     int32_t* labels) = 0;
};

// Reads every shard into RAM now.
std::unique_ptr<SampleSource> make_cached_source(const ShardSetInfo& info);
// Opens every shard now (validating it) with a bounded chunk cache; reads per fetch.
std::unique_ptr<SampleSource> make_streaming_source(const ShardSetInfo& info,
                                                    int64_t chunk_cache_bytes_per_shard);

}  // namespace elbo::detail
