#include "elbo/io/progress.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace elbo {

double progress_interval_s() {
  if (const char* env = std::getenv("ELBO_PROGRESS_EVERY_S")) {
    char* end = nullptr;
    const double v = std::strtod(env, &end);
    if (end != env && v > 0.0) return v;
  }
  return 5.0;
}

std::string format_hms(double seconds) {
  char buf[32];
  const long t = long(std::max(0.0, seconds) + 0.5);
  std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}

ProgressMeter::ProgressMeter(std::string what, std::string unit, int64_t total, bool enabled)
    : what_(std::move(what)), unit_(std::move(unit)), total_(total), enabled_(enabled),
      interval_s_(progress_interval_s()), start_(Clock::now()), last_line_(start_) {}

void ProgressMeter::update(int64_t done) {
  done_ = done;
  if (!enabled_ || total_ <= 0) return;
  const Clock::time_point now = Clock::now();
  if (std::chrono::duration<double>(now - last_line_).count() < interval_s_) return;
  last_line_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = double(done_) / std::max(elapsed, 1e-9);
  const std::string eta = rate > 0.0 ? format_hms(double(total_ - done_) / rate) : "--";
  // Whole numbers for the usual rates; a slow operation (k = 5000 per image) still shows one.
  const int decimals = rate >= 100.0 ? 0 : rate >= 1.0 ? 1 : 3;
  std::printf("%s  %lld/%lld %s (%.0f%%)  %.*f %s/s  eta %s\n", what_.c_str(), static_cast<long long>(done_),
              static_cast<long long>(total_), unit_.c_str(), 100.0 * double(done_) / double(total_), decimals, rate,
              unit_.c_str(), eta.c_str());
  std::fflush(stdout);
}

}  // namespace elbo
