// The data stream of loader.h: epoch permutations, concatenated epochs, rank
// slices, and its independence of world size, shard count and cache mode; seek().
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "elbo/data/loader.h"
#include "elbo/data/shard_set.h"
#include "elbo/error.h"
#include "support/synthetic_data.h"

namespace elbo {
namespace {

constexpr int64_t kCount = 50;   // not a multiple of any global batch below
constexpr uint64_t kDataSeed = 11;
constexpr int64_t kBig = int64_t(1) << 30;   // budget: cached
constexpr int64_t kSmall = 1000;             // budget: streaming (the sets are 800 bytes)

// One shard set per shard count, shared by the tests of this file.
class DataOrder : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(make_temp_dir("elbo-data-order"));
    for (int shards : {1, 3, 7}) {
      const std::string sub = *dir_ + "/s" + std::to_string(shards);
      std::filesystem::create_directories(sub);
      sets_[shards] = open_shard_set(make_synthetic_shard_set(sub, kCount, 1, 3, 4, shards, kDataSeed));
    }
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static std::string* dir_;
  static std::map<int, ShardSetInfo> sets_;
};
std::string* DataOrder::dir_ = nullptr;
std::map<int, ShardSetInfo> DataOrder::sets_;

LoaderOptions options(int rank, int world, int64_t global_batch, int64_t budget, uint64_t seed = 5) {
  LoaderOptions o;
  o.rank = rank;
  o.world = world;
  o.global_batch = global_batch;
  o.seed = seed;
  o.memory_budget_bytes = budget;
  o.prefetch_batches = 3;
  return o;
}

struct GlobalBatch {
  std::vector<int64_t> ids;
  std::vector<float> images;
  std::vector<int32_t> labels;
};

// The first `batches` global batches, assembled from the slices of `world` loaders.
std::vector<GlobalBatch> global_batches(const ShardSetInfo& info, int world, int64_t global_batch, int batches,
                                        int64_t budget, int64_t seek_to = 0) {
  std::vector<std::unique_ptr<DataLoader>> loaders;
  for (int r = 0; r < world; ++r) {
    loaders.push_back(std::make_unique<DataLoader>(info, options(r, world, global_batch, budget)));
    EXPECT_EQ(loaders.back()->cached_in_memory(), budget == kBig);
    if (seek_to != 0) loaders.back()->seek(seek_to);
  }
  std::vector<GlobalBatch> out(static_cast<size_t>(batches));
  for (int b = 0; b < batches; ++b) {
    for (int r = 0; r < world; ++r) {
      const int64_t cursor = seek_to + b * global_batch;
      EXPECT_EQ(loaders[r]->cursor(), cursor);
      Batch batch = loaders[r]->next();
      EXPECT_EQ(batch.cursor, cursor);
      EXPECT_EQ(batch.epoch, cursor / info.count);
      EXPECT_EQ(batch.local_rows, global_batch / world);
      EXPECT_EQ(batch.local_offset, r * global_batch / world);
      EXPECT_EQ(batch.images.size(), size_t(batch.local_rows * info.sample_dim()));
      EXPECT_EQ(batch.labels.size(), size_t(batch.local_rows));
      GlobalBatch& g = out[b];
      g.ids.insert(g.ids.end(), batch.sample_ids.begin(), batch.sample_ids.end());
      g.images.insert(g.images.end(), batch.images.begin(), batch.images.end());
      g.labels.insert(g.labels.end(), batch.labels.begin(), batch.labels.end());
    }
  }
  return out;
}

TEST(EpochPermutation, IsAPermutationFixedBySeedAndEpoch) {
  const std::vector<int64_t> p = epoch_permutation(1000, 3, 0);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(p, epoch_permutation(1000, 3, 0));
  EXPECT_NE(p, epoch_permutation(1000, 3, 1));
  EXPECT_NE(p, epoch_permutation(1000, 4, 0));
  int fixed_points = 0;
  for (int64_t i = 0; i < 1000; ++i) fixed_points += p[i] == i;
  EXPECT_LT(fixed_points, 10);  // a shuffle, not the identity (expected ~1)
  EXPECT_EQ(epoch_permutation(1, 3, 0), std::vector<int64_t>{0});
  EXPECT_THROW(epoch_permutation(0, 3, 0), Error);
}

TEST(EpochPermutation, SampleAtFollowsConcatenatedEpochs) {
  for (int64_t pos : {0, 7, 49, 50, 51, 149, 1234}) {
    EXPECT_EQ(DataLoader::sample_at(pos, 50, 9, true), epoch_permutation(50, 9, pos / 50)[pos % 50]) << pos;
    EXPECT_EQ(DataLoader::sample_at(pos, 50, 9, false), pos % 50);
  }
}

TEST_F(DataOrder, EverySampleOncePerEpochAcrossRanks) {
  for (int shards : {1, 3, 7}) {
    for (int world : {1, 2, 3, 4}) {
      const int64_t B = 12;  // 50 = 4*12 + 2: batch 4 straddles epochs 0 and 1
      const int batches = 13;  // 156 positions: epochs 0, 1, 2 complete
      SCOPED_TRACE("shards " + std::to_string(shards) + " world " + std::to_string(world));
      const ShardSetInfo& info = sets_[shards];
      const std::vector<GlobalBatch> gb = global_batches(info, world, B, batches, kBig);
      std::vector<int64_t> stream;
      for (const auto& g : gb) stream.insert(stream.end(), g.ids.begin(), g.ids.end());
      ASSERT_EQ(stream.size(), size_t(B * batches));
      for (size_t p = 0; p < stream.size(); ++p)
        ASSERT_EQ(stream[p], DataLoader::sample_at(int64_t(p), kCount, 5, true)) << "position " << p;
      for (int e = 0; e < 3; ++e) {
        std::vector<int64_t> epoch(stream.begin() + e * kCount, stream.begin() + (e + 1) * kCount);
        std::sort(epoch.begin(), epoch.end());
        for (int64_t i = 0; i < kCount; ++i) ASSERT_EQ(epoch[i], i) << "epoch " << e;
      }
      // Rows hold the right sample and label.
      std::vector<float> x(size_t(info.sample_dim()));
      std::vector<int32_t> label(1);
      for (int64_t k : {0, 47, 48, 49, 50, 155}) {
        const int64_t id = gb[k / B].ids[k % B];
        read_samples(info, id, 1, true, x.data(), label.data());
        const float* row = gb[k / B].images.data() + (k % B) * info.sample_dim();
        ASSERT_TRUE(std::equal(x.begin(), x.end(), row)) << "position " << k;
        ASSERT_EQ(gb[k / B].labels[k % B], synthetic_label(kDataSeed, id));
      }
    }
  }
}

TEST_F(DataOrder, SameGlobalBatchesForAnyWorldShardCountAndCacheMode) {
  const int64_t B = 12;
  const std::vector<GlobalBatch> ref = global_batches(sets_[1], 1, B, 9, kBig);
  for (int shards : {1, 3, 7}) {
    for (int world : {1, 2, 3, 4}) {
      for (int64_t budget : {kBig, kSmall}) {
        SCOPED_TRACE("shards " + std::to_string(shards) + " world " + std::to_string(world) + " budget " +
                     std::to_string(budget));
        const std::vector<GlobalBatch> got = global_batches(sets_[shards], world, B, 9, budget);
        for (size_t b = 0; b < ref.size(); ++b) {
          ASSERT_EQ(got[b].ids, ref[b].ids) << "batch " << b;
          ASSERT_EQ(got[b].images, ref[b].images) << "batch " << b;
          ASSERT_EQ(got[b].labels, ref[b].labels) << "batch " << b;
        }
      }
    }
  }
}

TEST_F(DataOrder, BatchLargerThanTheSet) {
  // 2 ranks x 36 rows = 72 > 50: a global batch spans two epochs and repeats samples.
  for (int64_t budget : {kBig, kSmall}) {
    const std::vector<GlobalBatch> gb = global_batches(sets_[3], 2, 72, 3, budget);
    for (int b = 0; b < 3; ++b)
      for (int64_t k = 0; k < 72; ++k)
        ASSERT_EQ(gb[b].ids[k], DataLoader::sample_at(b * 72 + k, kCount, 5, true));
  }
}

TEST_F(DataOrder, SeekGivesTheSameBatchesAsReadingFromTheStart) {
  const int64_t B = 8;
  for (int64_t budget : {kBig, kSmall}) {
    const std::vector<GlobalBatch> from_start = global_batches(sets_[3], 2, B, 20, budget);
    const std::vector<GlobalBatch> resumed = global_batches(sets_[3], 2, B, 8, budget, /*seek_to=*/12 * B);
    for (int b = 0; b < 8; ++b) ASSERT_EQ(resumed[b].ids, from_start[12 + b].ids) << b;
    for (int b = 0; b < 8; ++b) ASSERT_EQ(resumed[b].images, from_start[12 + b].images) << b;

    // Seeking a loader that is mid-stream (with a full prefetch queue) and back again.
    DataLoader loader(sets_[3], options(1, 2, B, budget));
    for (int b = 0; b < 5; ++b) loader.next();
    loader.seek(3 * B);
    EXPECT_EQ(loader.cursor(), 3 * B);
    Batch again = loader.next();
    EXPECT_EQ(again.cursor, 3 * B);
    EXPECT_EQ(again.sample_ids, std::vector<int64_t>(from_start[3].ids.begin() + B / 2, from_start[3].ids.end()));
    loader.seek(0);
    EXPECT_EQ(loader.next().sample_ids,
              std::vector<int64_t>(from_start[0].ids.begin() + B / 2, from_start[0].ids.end()));
    EXPECT_THROW(loader.seek(-1), Error);
  }
}

TEST_F(DataOrder, NoShuffleScaleAndThreshold) {
  const ShardSetInfo& info = sets_[3];
  LoaderOptions o = options(0, 1, 10, kBig);
  o.shuffle = false;
  o.scale = false;
  DataLoader raw(info, o);
  std::vector<float> x(size_t(10 * info.sample_dim()));
  for (int b = 0; b < 6; ++b) {  // batch 5 wraps: positions 50..59 are samples 0..9
    Batch batch = raw.next();
    for (int64_t k = 0; k < 10; ++k) ASSERT_EQ(batch.sample_ids[k], (b * 10 + k) % kCount);
    read_samples(info, (b * 10) % kCount, 10, false, x.data());
    ASSERT_EQ(batch.images, x);
    for (float v : batch.images) ASSERT_EQ(v, std::round(v));  // raw 0..255 values
  }
  o.scale = true;
  o.threshold = 0.5f;
  DataLoader binary(info, o);
  Batch batch = binary.next();
  read_samples(info, 0, 10, true, x.data());
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(batch.images[i], x[i] > 0.5f ? 1.0f : 0.0f);
}

}  // namespace
}  // namespace elbo
