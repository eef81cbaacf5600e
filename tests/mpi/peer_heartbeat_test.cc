// The heartbeat ring of dist/peer_heartbeat.h on real ranks: live ranks never raise the
// alarm, a rank that stops beating is named by its successor alone, and a rank that
// leaves (with its "leaving" beat) is not mistaken for a frozen one. The watchdog's
// abort on top of it is tested end to end (tests/e2e/test_fault_matrix.sh, SIGSTOP row).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "elbo/dist/peer_heartbeat.h"
#include "mpi_test_context.h"

namespace elbo {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Generous against a loaded machine (ctest runs tests side by side, sanitizers slow
// everything): a live rank's beat arrives every 20 ms.
constexpr double kTimeout = 2.5;
constexpr milliseconds kListen(6000);

// Ticks every 20 ms for `duration`; returns the longest silence reported (0: none).
double tick_for(PeerHeartbeat& hb, milliseconds duration) {
  double worst = 0;
  for (const Clock::time_point end = Clock::now() + duration; Clock::now() < end;) {
    worst = std::max(worst, hb.tick(steady_now_ns()));
    std::this_thread::sleep_for(milliseconds(20));
  }
  return worst;
}

TEST(PeerHeartbeat, NeedsThreadMultipleAndSeveralRanks) {
  // elbo asks MPI for MPI_THREAD_MULTIPLE (the watchdog thread calls MPI during the main
  // thread's collectives); the launcher used here must grant it, as it does for elbo.
  EXPECT_TRUE(mpi().thread_multiple()) << "MPI did not grant MPI_THREAD_MULTIPLE";
  PeerHeartbeat hb(mpi(), kTimeout);
  EXPECT_EQ(hb.enabled(), mpi().world() > 1);
  PeerHeartbeat off(mpi(), 0.0);
  EXPECT_FALSE(off.enabled());
}

TEST(PeerHeartbeat, LiveRanksNeverRaiseTheAlarm) {
  PeerHeartbeat hb(mpi(), kTimeout);
  EXPECT_EQ(tick_for(hb, kListen), 0.0) << "rank " << mpi().rank();
  mpi().barrier();
}

TEST(PeerHeartbeat, TheSuccessorOfASilentRankNamesIt) {
  if (mpi().world() < 2) GTEST_SKIP() << "needs 2 ranks";
  const int frozen = 1;
  PeerHeartbeat hb(mpi(), kTimeout);
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

TEST(PeerHeartbeat, APauseOfThisRankIsNotItsPredecessorsSilence) {
  // A VM paused by its host stops every rank at once; when it runs again the successor's
  // clock has jumped while nobody beat. Its watchdog's PauseDetector says how long this
  // process was paused (tests/unit/test_pause_detector.cc): that time is not counted, and
  // the clock runs on from there. (Here the predecessor stays silent and the successor's
  // clock is given: a jump of 10 s, forgiven, then ticks every 0.4 s.)
  if (mpi().world() < 2) GTEST_SKIP() << "needs 2 ranks";
  const int silent = 1, successor = (silent + 1) % mpi().world();
  PeerHeartbeat hb(mpi(), kTimeout);
  if (mpi().rank() == successor) {
    const int64_t second = 1000000000, t0 = steady_now_ns();
    EXPECT_EQ(hb.tick(t0), 0.0);
    const int64_t resumed = t0 + 10 * second;
    EXPECT_EQ(hb.tick(resumed, resumed - t0), 0.0) << "a 10 s pause of this rank was taken for its predecessor's silence";
    double silence = 0;
    int64_t t = resumed;
    while (silence == 0 && t < resumed + 5 * second) silence = hb.tick(t += 2 * second / 5);
    EXPECT_GT(silence, kTimeout) << "the silence clock stopped after the pause";
    EXPECT_LT(silence, kTimeout + 1.0) << "the pause was counted after all";
  }
  mpi().barrier();
}

TEST(PeerHeartbeat, ARankThatLeftIsNotTakenForAFrozenOne) {
  if (mpi().world() < 2) GTEST_SKIP() << "needs 2 ranks";
  const int leaver = 0;
  auto hb = std::make_unique<PeerHeartbeat>(mpi(), kTimeout);
  tick_for(*hb, milliseconds(300));
  if (mpi().rank() == leaver) hb.reset();  // its last beat says it is leaving
  // The others listen for longer than the timeout after it fell silent.
  const double silence = hb ? tick_for(*hb, kListen) : 0.0;
  mpi().barrier();
  EXPECT_EQ(silence, 0.0) << "rank " << mpi().rank() << " took the departed rank " << leaver << " for a frozen one";
}

}  // namespace
}  // namespace elbo
