// The CPU backend's deterministic sum of many terms.
#pragma once
#include <cstddef>

namespace elbo {

// Sum of f(0..n-1) in double over eight interleaved lanes, combined in a fixed order:
// deterministic, and (unlike one running sum, whose order the compiler must keep) it
// vectorises. The lanes are the same whatever the vector width, so every build and every
// clone of vector_loops.cc gets the same bits.
template <typename F>
inline double lane_sum(size_t n, F&& f) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lane[l] += double(f(i + l));
  for (; i < n; ++i) lane[i % 8] += double(f(i));
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

}  // namespace elbo
