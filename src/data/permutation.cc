// The global sample order: epoch permutations and the concatenated-epoch stream.
#include <cstdint>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "elbo/data/loader.h"
#include "elbo/error.h"
#include "elbo/kernels/philox.h"

namespace elbo {

std::vector<int64_t> epoch_permutation(int64_t count, uint64_t seed, int64_t epoch) {
  ELBO_CHECK(count > 0, "epoch_permutation: count must be > 0, got " << count);
  // philox_u64 takes the element index as 32 bits; larger sets would repeat draws.
  ELBO_CHECK(count <= int64_t(std::numeric_limits<uint32_t>::max()),
             "epoch_permutation: " << count << " samples exceed the 2^32 the shuffle supports");
  ELBO_CHECK(epoch >= 0, "epoch_permutation: epoch must be >= 0, got " << epoch);
  std::vector<int64_t> perm(static_cast<size_t>(count));
  std::iota(perm.begin(), perm.end(), int64_t(0));
  // Fisher-Yates from the top: draw i picks perm[i] among 0..i. Every draw is a pure
  // function of (seed, epoch, i), so any process computes the same order.
  for (int64_t i = count - 1; i > 0; --i) {
    const uint64_t r = philox_u64(seed, kRngPermutation, static_cast<uint64_t>(epoch), static_cast<uint32_t>(i));
    const int64_t j = static_cast<int64_t>(r % static_cast<uint64_t>(i + 1));
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  return perm;
}

int64_t DataLoader::sample_at(int64_t position, int64_t count, uint64_t seed, bool shuffle) {
  ELBO_CHECK(position >= 0 && count > 0,
             "DataLoader::sample_at: position " << position << " / count " << count << " out of range");
  if (!shuffle) return position % count;
  // O(count) per call: for single look-ups and tests; the loader caches permutations.
  return epoch_permutation(count, seed, position / count)[static_cast<size_t>(position % count)];
}

}  // namespace elbo
