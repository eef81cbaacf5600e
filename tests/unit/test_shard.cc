// The cut of a flat buffer into per-rank shards (ZeRO-1): contiguous, covering, aligned,
// and a function of n and the world size alone.
#include <gtest/gtest.h>

#include "elbo/dist/shard.h"

namespace elbo {
namespace {

TEST(Shard, ShardsAreContiguousAlignedAndCoverTheBuffer) {
  for (size_t n : {0, 1, 15, 16, 17, 100, 1001, 1024, 1025, 5000, 669706}) {
    for (int w = 1; w <= 8; ++w) {
      size_t next = 0;
      for (int r = 0; r < w; ++r) {
        const Shard s = shard_of(n, w, r);
        ASSERT_EQ(s.begin, next) << "n " << n << " world " << w << " rank " << r;
        ASSERT_LE(s.begin, s.end);
        if (s.size() > 0) ASSERT_EQ(s.begin % kShardAlign, 0u);
        // Only the last non-empty shard may be shorter than rank 0's.
        if (s.end < n) ASSERT_EQ(s.size(), shard_of(n, w, 0).size());
        next = s.end;
      }
      ASSERT_EQ(next, n) << "n " << n << " world " << w;
    }
  }
}

TEST(Shard, OneRankOwnsEverything) {
  const Shard s = shard_of(1001, 1, 0);
  EXPECT_EQ(s.begin, 0u);
  EXPECT_EQ(s.end, 1001u);
}

TEST(Shard, EachShardIsAboutOneWorldth) {
  const size_t n = 669706;
  EXPECT_EQ(shard_of(n, 4, 0).size(), 167936u);  // ceil(n / 4) = 167427, rounded up to 1024
  EXPECT_EQ(shard_of(n, 4, 3).size(), n - 3 * 167936u);
}

}  // namespace
}  // namespace elbo
