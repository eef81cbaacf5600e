// The MPI data plane and control plane on 2..4 ranks: collectives give the exact
// expected values, bucketed reduction equals one big reduction (to rounding) and is bitwise identical on every rank,
// rank 0's parameters reach every replica, and disagreement is detected.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "elbo/backend.h"
#include "elbo/dist/grad_reducer.h"
#include "elbo/dist/mpi_communicator.h"
#include "elbo/error.h"
#include "elbo/io/crc32.h"
#include "elbo/models/vae_model.h"
#include "mpi_test_context.h"

namespace elbo {
namespace {

TEST(MpiCommunicator, AllReduceBroadcastAllGather) {
  auto be = make_cpu_backend();
  auto comm = make_mpi_communicator(mpi(), *be);
  const int r = comm->rank(), w = comm->world();
  std::vector<float> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(r + 1) * float(i);
  comm->allreduce_sum(v.data(), v.size());
  const float factor = float(w * (w + 1) / 2);
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], factor * float(i));

  std::vector<float> b(17, float(r));
  comm->broadcast(b.data(), b.size(), w - 1);
  for (float x : b) ASSERT_EQ(x, float(w - 1));

  std::vector<float> mine(3, float(r)), all(3 * size_t(w));
  comm->allgather(mine.data(), all.data(), 3);
  for (int q = 0; q < w; ++q) ASSERT_EQ(all[size_t(q) * 3 + 2], float(q));
}

TEST(MpiCommunicator, BucketedReductionEqualsOneReduction) {
  auto be = make_cpu_backend();
  auto comm = make_mpi_communicator(mpi(), *be);
  const size_t n = 10007;
  std::vector<float> a(n), b(n);
  for (size_t i = 0; i < n; ++i) a[i] = b[i] = 0.001f * float((i * 7919 + comm->rank() * 104729) % 1000);
  comm->allreduce_sum(a.data(), n);
  GradReducer reducer(*comm, b.data(), n, 1000);
  reducer.begin_step();
  for (size_t offset = n; offset > 0; offset = offset > 777 ? offset - 777 : 0) reducer.ready_from(offset);
  reducer.finish();
  // MPI may pick another summation order for another message size (with 3 ranks it
  // does), so one big and several small reductions agree to rounding only...
  for (size_t i = 0; i < n; ++i) ASSERT_NEAR(a[i], b[i], 1e-6f * std::max(1.0f, std::fabs(a[i]))) << i;
  // ...but every rank holds the very same bits, which is what keeps replicas identical.
  EXPECT_NO_THROW(mpi().require_same(crc32_bytes(b.data(), n * sizeof(float)), "bucketed gradients"));
}

TEST(MpiCommunicator, RankZeroInitialParametersReachEveryReplica) {
  auto be = make_cpu_backend();
  auto comm = make_mpi_communicator(mpi(), *be);
  ModelConfig mc;
  mc.hidden = {16};
  mc.latent = 4;
  // Different seeds per rank: without the broadcast the replicas would differ.
  auto model = make_model(mc, 20, *be, 100 + uint64_t(comm->rank()));
  ParamStore& ps = model->params();
  comm->broadcast(ps.params(), ps.total(), 0);
  auto reference = make_model(mc, 20, *be, 100);
  std::vector<float> got(ps.params(), ps.params() + ps.total());
  std::vector<float> want(reference->params().params(), reference->params().params() + ps.total());
  EXPECT_EQ(got, want);
}

TEST(MpiContext, RequireSameNamesTheRanksThatDiffer) {
  mpi().require_same(42, "a value every rank agrees on");
  if (mpi().world() < 2) GTEST_SKIP() << "needs 2 ranks";
  try {
    mpi().require_same(mpi().rank() == 1 ? 7 : 42, "the config hash");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank(s) 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("the config hash"), std::string::npos) << e.what();
  }
}

TEST(MpiContext, NodeLocalRanks) {
  // All ranks of these tests run on one node.
  EXPECT_EQ(mpi().local_world(), mpi().world());
  EXPECT_EQ(mpi().local_rank(), mpi().rank());
  EXPECT_EQ(mpi().allreduce_sum(int64_t(1)), mpi().world());
}

}  // namespace
}  // namespace elbo
