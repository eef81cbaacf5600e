// The shard set manifest (src/data/manifest.cc) through open_shard_set, next to a real
// set of 2 shards (6 images 4x4 with labels), so a valid manifest reaches the shard
// checks, the checksum verification and read_samples.
#include <vector>

#include "fuzz_support.h"

namespace {
std::string manifest;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  manifest = elbo::fuzz::make_seed_shard_set(elbo::fuzz::scratch_dir() + "/seed", 2);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::ofstream(manifest, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), std::streamsize(size));
  elbo::fuzz::expect_success_or_error([&] {
    const elbo::ShardSetInfo info = elbo::open_shard_set(manifest, /*verify_checksums=*/true);
    if (info.count * info.sample_dim() > (1 << 20)) return;  // a set this big cannot pass the shard checks
    std::vector<float> images(size_t(info.count * info.sample_dim()));
    std::vector<int32_t> labels(size_t(info.count));
    elbo::read_samples(info, 0, info.count, true, images.data(), info.has_labels ? labels.data() : nullptr);
  });
  return 0;
}
