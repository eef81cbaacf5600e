// The sharded collectives of the MPI data plane (reduce-scatter, all-gather of shards) on
// 1..4 ranks, for sizes that the world does not divide (and smaller than the world):
// exact sums and copies, over node shared memory and over plain MPI, and the shared-memory
// reduce-scatter holding the very bits of its all-reduce.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/dist/communicator.h"
#include "elbo/dist/mpi_communicator.h"
#include "elbo/dist/shard.h"
#include "elbo/optim/update_guard.h"
#include "mpi_test_context.h"

namespace elbo {
namespace {

const size_t kSizes[] = {1, 3, 17, 33, 1001, 10007};

// The communicator with its node shared memory (shm) or plain MPI (ELBO_SHM_ALLREDUCE=0).
std::unique_ptr<Communicator> make_comm(Backend& be, bool shm) {
  if (shm)
    unsetenv("ELBO_SHM_ALLREDUCE");
  else
    setenv("ELBO_SHM_ALLREDUCE", "0", 1);
  auto comm = make_mpi_communicator(mpi(), be);
  unsetenv("ELBO_SHM_ALLREDUCE");
  return comm;
}

class ShardCollectives : public ::testing::TestWithParam<bool> {};

TEST_P(ShardCollectives, ReduceScatterSumsEachShardExactly) {
  auto be = make_cpu_backend();
  auto comm = make_comm(*be, GetParam());
  const int r = comm->rank(), w = comm->world();
  for (size_t n : kSizes) {
    // Small integers: every order of addition gives the same exact sum.
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = float((i % 97) * size_t(r + 1));
    comm->reduce_scatter_sum(v.data(), n);
    const Shard mine = shard_of(n, w, r);
    for (size_t i = mine.begin; i < mine.end; ++i)
      ASSERT_EQ(v[i], float((i % 97) * size_t(w * (w + 1) / 2))) << "n " << n << " element " << i;
  }
}

TEST_P(ShardCollectives, AllGatherOfShardsGivesEveryRankEveryShard) {
  auto be = make_cpu_backend();
  auto comm = make_comm(*be, GetParam());
  const int r = comm->rank(), w = comm->world();
  for (size_t n : kSizes) {
    std::vector<float> v(n, -1.0f);
    const Shard mine = shard_of(n, w, r);
    for (size_t i = mine.begin; i < mine.end; ++i) v[i] = float(i) + 0.25f;
    comm->allgather_shards(v.data(), n);
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(v[i], float(i) + 0.25f) << "n " << n << " element " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Mpi, ShardCollectives, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "shm" : "plain"; });

// Sums of non-integers depend on the order of addition (with 3 or more ranks): the shared
// memory reduce-scatter adds in the all-reduce's order, so a sharded optimizer could use
// it and keep the unsharded run's bits.
TEST(ShardCollectivesShm, ReduceScatterHoldsTheAllReduceBits) {
  auto be = make_cpu_backend();
  auto comm = make_comm(*be, true);
  const int r = comm->rank(), w = comm->world();
  const size_t n = 10007;
  std::vector<float> a(n), b(n);
  for (size_t i = 0; i < n; ++i) a[i] = b[i] = 1.0f / float(1 + (i * 7919 + size_t(r) * 104729) % 1013);
  comm->allreduce_sum(a.data(), n);
  comm->reduce_scatter_sum(b.data(), n);
  const Shard mine = shard_of(n, w, r);
  for (size_t i = mine.begin; i < mine.end; ++i) ASSERT_EQ(a[i], b[i]) << "element " << i;
}

// ZeRO-1's update guard (dist.zero): a rank holding the summed gradients of its shard only
// (garbage elsewhere, never read) and its own health gets the unsharded guard's squared
// norm and gate, bit for bit, through one all-reduce of the block partials; a NaN in one
// rank's health skips the step on every rank.
TEST(ShardCollectivesShm, ShardedUpdateGuardHasTheUnshardedBits) {
  auto be = make_cpu_backend();
  auto comm = make_comm(*be, true);
  const int r = comm->rank(), w = comm->world();
  ASSERT_TRUE(comm->reduce_scatter_matches_allreduce());
  UpdateRule rule;
  rule.clip_norm = 1.0f;
  rule.skip_nonfinite = true;
  for (size_t n : {size_t(1), size_t(1000), size_t(5 * kShardAlign + 17), size_t(40000)}) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    std::vector<float> grads(n), shard(n, std::numeric_limits<float>::quiet_NaN());
    for (size_t i = 0; i < n; ++i) grads[i] = std::sin(0.37f * float(i)) / float(1 + i % 13);
    const Shard own = shard_of(n, w, r);
    std::copy(grads.begin() + own.begin, grads.begin() + own.end, shard.begin() + own.begin);
    for (int sick_rank : {-1, w - 1}) {
      const float health = 0.0f, sick = std::numeric_limits<float>::quiet_NaN();
      UpdateGuard whole(*be, rule, n), sharded(*be, rule, n);
      // The unsharded guard reads the summed health (NaN if any rank's was).
      whole.decide(grads.data(), sick_rank >= 0 ? &sick : &health, true);
      sharded.decide_sharded(shard.data(), own, sick_rank == r ? &sick : &health, true,
                             [&](float* buf, size_t count) { comm->allreduce_sum(buf, count); });
      ASSERT_EQ(std::memcmp(whole.grad_sumsq(), sharded.grad_sumsq(), sizeof(float)), 0)
          << whole.grad_sumsq()[0] << " vs " << sharded.grad_sumsq()[0];
      ASSERT_EQ(std::memcmp(whole.gate(), sharded.gate(), UpdateGate::kSize * sizeof(float)), 0);
      EXPECT_EQ(sharded.gate()[UpdateGate::kSkip] != 0.0f, sick_rank >= 0);
    }
  }
}

}  // namespace
}  // namespace elbo
