// dist/pause_detector.h: the watchdog's judgement of whether its own process was paused.
#include <gtest/gtest.h>

#include "elbo/dist/pause_detector.h"

namespace elbo {
namespace {

constexpr int64_t kMs = 1000000;

// One tick: begins `wait_ms` after the previous one ended, takes 1 ms; returns what it forgave.
int64_t tick(PauseDetector& d, int64_t& clock, int64_t wait_ms) {
  clock += wait_ms * kMs;
  const int64_t forgiven = d.begin_tick(clock);
  clock += kMs;
  d.end_tick(clock);
  return forgiven;
}

TEST(PauseDetector, RegularTicksForgiveNothing) {
  int64_t clock = 0;
  PauseDetector d(clock);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(tick(d, clock, 500), 0);
  EXPECT_EQ(tick(d, clock, 1900), 0) << "a late tick under the threshold is no pause";
}

TEST(PauseDetector, OnePauseIsForgivenWhole) {
  int64_t clock = 0;
  PauseDetector d(clock);
  tick(d, clock, 500);
  EXPECT_EQ(tick(d, clock, 8000), 8000 * kMs);
  EXPECT_EQ(tick(d, clock, 500), 0);
  EXPECT_EQ(tick(d, clock, 30000), 30000 * kMs) << "a later pause, after regular ticks, is forgiven again";
}

TEST(PauseDetector, AThreadLateOnEveryTickIsNotPaused) {
  // A starved or blocked watchdog thread must not silence the alarms for ever: from the
  // second long gap in a row, the time counts.
  int64_t clock = 0;
  PauseDetector d(clock);
  EXPECT_EQ(tick(d, clock, 3000), 3000 * kMs);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(tick(d, clock, 3000), 0) << "long gap " << i + 2 << " in a row";
}

TEST(PauseDetector, TimeInsideATickIsNoPause) {
  // A tick that blocked (in MPI, say) for 5 s: the next gap is measured from its end.
  int64_t clock = 0;
  PauseDetector d(clock);
  clock += 500 * kMs;
  EXPECT_EQ(d.begin_tick(clock), 0);
  clock += 5000 * kMs;
  d.end_tick(clock);
  EXPECT_EQ(tick(d, clock, 500), 0);
}

}  // namespace
}  // namespace elbo
