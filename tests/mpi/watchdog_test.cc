// The watchdog's own thread against the training loop's beats (run under TSan by
// tests/run_sanitizers.sh): beat() from another thread while the watchdog checks every
// 500 ms must keep it quiet, and it must start and stop promptly, again and again.
// That it does fire on a hang is tested end to end (tests/e2e/test_rank_failure.sh).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "elbo/train/watchdog.h"
#include "mpi_test_context.h"

namespace elbo {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

TEST(Watchdog, BeatsFromAnotherThreadKeepItQuiet) {
  const Clock::time_point start = Clock::now();
  {
    Watchdog dog(mpi(), 3.0);  // 3 s without a beat would abort the process
    std::thread loop([&] {
      for (int64_t step = 0; Clock::now() - start < milliseconds(3500); ++step) {
        dog.beat(step, step % 2 ? "forward" : "gradient all-reduce");
        std::this_thread::sleep_for(milliseconds(1));
      }
    });
    loop.join();
  }
  EXPECT_LT(Clock::now() - start, milliseconds(4500)) << "stopping the watchdog took too long";
}

TEST(Watchdog, StartsAndStopsPromptly) {
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < 50; ++i) {
    Watchdog dog(mpi(), 60.0);
    dog.beat(i, "data");
  }
  EXPECT_LT(Clock::now() - start, milliseconds(5000)) << "50 watchdogs should start and stop in milliseconds each";
}

}  // namespace
}  // namespace elbo
