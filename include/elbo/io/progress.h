// Progress lines for operations that can take long (evaluation, data conversion,
// sampling): "eval  1200/10000 images (12%)  85 images/s  eta 0:01:43" on stdout, like
// training's step lines. A line is printed at most every progress_interval_s() seconds
// and the first only after one interval, so an operation that ends within a few seconds
// prints nothing. Only the process that owns the meter prints (callers pass rank 0).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace elbo {

// Seconds between progress lines: ELBO_PROGRESS_EVERY_S when set (tests use a short one),
// else 5.
double progress_interval_s();

// h:mm:ss, rounded to the second.
std::string format_hms(double seconds);

class ProgressMeter {
 public:
  // what: the line's first word ("eval"); unit: what is counted ("images"); total: units to do.
  ProgressMeter(std::string what, std::string unit, int64_t total, bool enabled);
  // `done` units are now done in all; prints a line when an interval has passed.
  void update(int64_t done);
  void add(int64_t n) { update(done_ + n); }
  int64_t done() const { return done_; }

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_, unit_;
  int64_t total_ = 0, done_ = 0;
  bool enabled_ = false;
  double interval_s_ = 5.0;
  Clock::time_point start_, last_line_;
};

}  // namespace elbo
