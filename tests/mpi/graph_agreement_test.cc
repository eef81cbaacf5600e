// mpi_graph_agreement: after capturing the training step, every rank learns the same
// outcome (the worst status of all ranks) and the reasons of the first failing ranks,
// whichever ranks failed. CPU only: the agreement is the control plane (MPI), which is
// what must still work when NCCL does not.
#include <gtest/gtest.h>

#include <string>

#include "elbo/dist/mpi_context.h"
#include "elbo/train/step_program.h"

namespace elbo {
namespace {

TEST(GraphAgreement, EveryRankCapturedSoAllReplay) {
  MpiContext mpi(nullptr, nullptr);  // MPI is already initialised by the test main
  const GraphVote all = mpi_graph_agreement(mpi)({});
  EXPECT_EQ(all.status, GraphStatus::kOk);
  EXPECT_EQ(all.reason, "");
}

TEST(GraphAgreement, TheLastRanksFailureReachesEveryRank) {
  MpiContext mpi(nullptr, nullptr);
  const int last = mpi.world() - 1;
  GraphVote mine;
  if (mpi.rank() == last) mine = {GraphStatus::kFailed, "cuBLAS refused the capture"};
  const GraphVote all = mpi_graph_agreement(mpi)(mine);
  EXPECT_EQ(all.status, GraphStatus::kFailed);
  EXPECT_EQ(all.reason, "rank " + std::to_string(last) + ": cuBLAS refused the capture");
}

// Every rank but rank 0 fails; the odd ones also lost their communicator. Every rank
// gets the worst status and the first rank of each kind.
TEST(GraphAgreement, ALostCommunicatorOutweighsAHarmlessFailure) {
  MpiContext mpi(nullptr, nullptr);
  const int r = mpi.rank(), w = mpi.world();
  GraphVote mine;
  if (r > 0)
    mine = {r % 2 ? GraphStatus::kCommunicatorLost : GraphStatus::kFailed, "reason of rank " + std::to_string(r)};
  const GraphVote all = mpi_graph_agreement(mpi)(mine);
  if (w == 1) {
    EXPECT_EQ(all.status, GraphStatus::kOk);
  } else if (w == 2) {
    EXPECT_EQ(all.status, GraphStatus::kCommunicatorLost);
    EXPECT_EQ(all.reason, "rank 1: reason of rank 1");
  } else {
    EXPECT_EQ(all.status, GraphStatus::kCommunicatorLost);
    EXPECT_EQ(all.reason, "rank 1: reason of rank 1; rank 2: reason of rank 2");
  }
}

}  // namespace
}  // namespace elbo
