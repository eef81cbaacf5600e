// The heartbeat ring of dist/peer_heartbeat.h on real ranks: live ranks never raise the
// alarm, a rank that stops beating is named by its successor alone, and a rank that
// leaves (with its "leaving" beat) is not mistaken for a frozen one. The watchdog's
// abort on top of it is tested end to end (tests/e2e/test_fault_matrix.sh, SIGSTOP row).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "elbo/dist/mpi_context.h"
#include "elbo/dist/peer_heartbeat.h"

namespace elbo {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

MpiContext& mpi() {
  static MpiContext ctx(nullptr, nullptr);
  return ctx;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Generous against a loaded machine (ctest runs tests side by side, sanitizers slow
// everything): a live rank's beat arrives every 20 ms.
constexpr double kTimeout = 1.0;
constexpr milliseconds kListen(2500);

// Ticks every 20 ms for `duration`; returns the longest silence reported (0: none).
double tick_for(PeerHeartbeat& hb, milliseconds duration) {
  double worst = 0;
  for (const Clock::time_point end = Clock::now() + duration; Clock::now() < end;) {
    worst = std::max(worst, hb.tick(now_ns()));
    std::this_thread::sleep_for(milliseconds(20));
  }
  return worst;
}

TEST(PeerHeartbeat, NeedsThreadMultipleAndSeveralRanks) {
  // elbo asks MPI for MPI_THREAD_MULTIPLE (the watchdog thread calls MPI during the main
  // thread's collectives); the launcher used here must grant it, as it does for elbo.
  EXPECT_TRUE(mpi().thread_multiple()) << "MPI did not grant MPI_THREAD_MULTIPLE";
  PeerHeartbeat hb(mpi(), kTimeout, now_ns());
  EXPECT_EQ(hb.enabled(), mpi().world() > 1);
  PeerHeartbeat off(mpi(), 0.0, now_ns());
  EXPECT_FALSE(off.enabled());
}

TEST(PeerHeartbeat, LiveRanksNeverRaiseTheAlarm) {
  PeerHeartbeat hb(mpi(), kTimeout, now_ns());
  EXPECT_EQ(tick_for(hb, kListen), 0.0) << "rank " << mpi().rank();
  mpi().barrier();
}

TEST(PeerHeartbeat, TheSuccessorOfASilentRankNamesIt) {
  if (mpi().world() < 2) GTEST_SKIP() << "needs 2 ranks";
  const int frozen = 1;
  PeerHeartbeat hb(mpi(), kTimeout, now_ns());
  double silence = 0;
  if (mpi().rank() == frozen) std::this_thread::sleep_for(kListen);  // no ticks: no beats
  else silence = tick_for(hb, kListen);
  const bool successor = mpi().rank() == (frozen + 1) % mpi().world();
  if (successor) {
    EXPECT_GT(silence, kTimeout);
    EXPECT_EQ(hb.previous_rank(), frozen);
  } else {
    EXPECT_EQ(silence, 0.0) << "rank " << mpi().rank() << " raised the alarm, but its predecessor "
                            << hb.previous_rank() << " was beating";
  }
  mpi().barrier();
}

TEST(PeerHeartbeat, ARankThatLeftIsNotTakenForAFrozenOne) {
  if (mpi().world() < 2) GTEST_SKIP() << "needs 2 ranks";
  const int leaver = 0;
  auto hb = std::make_unique<PeerHeartbeat>(mpi(), kTimeout, now_ns());
  tick_for(*hb, milliseconds(300));
  if (mpi().rank() == leaver) hb.reset();  // its last beat says it is leaving
  // The others listen for longer than the timeout after it fell silent.
  const double silence = hb ? tick_for(*hb, kListen) : 0.0;
  mpi().barrier();
  EXPECT_EQ(silence, 0.0) << "rank " << mpi().rank() << " took the departed rank " << leaver << " for a frozen one";
}

}  // namespace
}  // namespace elbo
