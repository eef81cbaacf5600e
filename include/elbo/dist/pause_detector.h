// Tells a watchdog thread when its own process was not running. Both of the watchdog's
// clocks (the previous rank's silence, the training loop's lack of progress) are wall time;
// when the whole process stops (SIGSTOP of the job, a VM paused or starved by its host, a
// laptop suspended), its peers stop with it, and counting that time against them would
// abort a job that is fine. The watchdog ticks every half second: a gap between the end of
// one tick and the start of the next longer than kPausedAfterSeconds is taken for such a
// pause, and that time is forgiven, once. A thread that is late on every tick is not paused
// but starved (or blocked): from the second long gap in a row the time counts again, so
// that no machine, however slow, silences the alarms for ever.
#pragma once
#include <cstdint>

namespace elbo {

class PauseDetector {
 public:
  static constexpr double kPausedAfterSeconds = 2.0;

  explicit PauseDetector(int64_t now_ns) : last_end_ns_(now_ns) {}
  // At the start of a tick: the nanoseconds to forgive (0 unless this process was paused).
  int64_t begin_tick(int64_t now_ns) {
    const int64_t gap = now_ns - last_end_ns_;
    const bool long_gap = double(gap) * 1e-9 > kPausedAfterSeconds;
    const int64_t forgiven = long_gap && !last_gap_long_ ? gap : 0;
    last_gap_long_ = long_gap;
    return forgiven;
  }
  // At the end of a tick (time spent inside the tick, in MPI for instance, is no pause).
  void end_tick(int64_t now_ns) { last_end_ns_ = now_ns; }

 private:
  int64_t last_end_ns_;
  bool last_gap_long_ = false;
};

}  // namespace elbo
