// A tensor is a device pointer plus a shape: (N, D) for rows of features, (N, C, H, W)
// for images (row-major, NCHW). It owns nothing; the graph's arena or a DeviceBuffer does.
#pragma once
#include <cstddef>
#include <string>

namespace elbo {

struct Shape {
  int n = 0, c = 1, h = 1, w = 1;

  static Shape rows(int n, int d) { return Shape{n, d, 1, 1}; }
  static Shape images(int n, int c, int h, int w) { return Shape{n, c, h, w}; }
  // Values per row (per sample): D, or C*H*W.
  size_t row_size() const { return size_t(c) * size_t(h) * size_t(w); }
  size_t numel() const { return size_t(n) * row_size(); }
  bool operator==(const Shape& o) const { return n == o.n && c == o.c && h == o.h && w == o.w; }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const {
    if (h == 1 && w == 1) return "(" + std::to_string(n) + ", " + std::to_string(c) + ")";
    return "(" + std::to_string(n) + ", " + std::to_string(c) + ", " + std::to_string(h) + ", " + std::to_string(w) +
           ")";
  }
};

struct Tensor {
  float* data = nullptr;
  Shape shape;
};

}  // namespace elbo
