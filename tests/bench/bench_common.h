// What the C++ micro-benchmarks share: timing on a machine shared with other work, and
// the line that names the machine.
#pragma once
#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace elbo_bench {

// The fastest of `reps` timed calls (after two untimed ones): on a shared machine other
// processes only ever add time, so the minimum is the best estimate of the code's own cost.
inline double fastest_seconds(int reps, const std::function<void()>& f) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < 2; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return *std::min_element(t.begin(), t.end());
}

// n values uniform in [-1, 1) from gen.
inline std::vector<float> random_values(size_t n, std::mt19937& gen) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// "Intel(R) Xeon(R) Processor (family 6 model 167), load 4.52" from /proc.
inline std::string machine_description() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown CPU", family, number;
  while (std::getline(in, line)) {
    auto value = [&] { return line.substr(line.find(':') + 2); };
    if (line.rfind("model name", 0) == 0 && model == "unknown CPU") model = value();
    else if (line.rfind("cpu family", 0) == 0 && family.empty()) family = value();
    else if (line.rfind("model\t", 0) == 0 && number.empty()) number = value();
  }
  std::string load;
  std::ifstream("/proc/loadavg") >> load;
  return model + " (family " + family + " model " + number + "), load " + load;
}

}  // namespace elbo_bench
