// An RGB picture to draw plots on: pixels, lines, rectangles and text in the built-in
// bitmap font (bitmap_font.h), saved as PNG. Drawing outside the picture is clipped.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace elbo {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

class Canvas {
 public:
  Canvas(int width, int height, Rgb background);
  int width() const { return width_; }
  int height() const { return height_; }

  void pixel(int x, int y, Rgb c);
  Rgb at(int x, int y) const;
  // A line `thickness` pixels wide (a square pen) from (x0, y0) to (x1, y1).
  void line(int x0, int y0, int x1, int y1, Rgb c, int thickness = 1);
  void fill_rect(int x, int y, int w, int h, Rgb c);
  void frame_rect(int x, int y, int w, int h, Rgb c);
  // Text with its top-left corner at (x, y), each font pixel drawn scale x scale.
  void text(int x, int y, const std::string& s, Rgb c, int scale = 1);
  static int text_width(const std::string& s, int scale = 1);
  static int text_height(int scale = 1);

  void write_png(const std::string& path) const;

 private:
  int width_, height_;
  std::vector<unsigned char> rgb_;
};

}  // namespace elbo
