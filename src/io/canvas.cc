#include "elbo/io/canvas.h"

#include <cstdlib>

#include "elbo/error.h"
#include "elbo/io/bitmap_font.h"
#include "elbo/io/png_grid.h"

namespace elbo {

Canvas::Canvas(int width, int height, Rgb background) : width_(width), height_(height) {
  ELBO_CHECK(width >= 1 && height >= 1 && width <= 20000 && height <= 20000,
             "canvas of " << width << "x" << height << " pixels: expected 1..20000 each");
  rgb_.resize(size_t(width) * size_t(height) * 3);
  fill_rect(0, 0, width, height, background);
}

void Canvas::pixel(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  unsigned char* p = &rgb_[(size_t(y) * size_t(width_) + size_t(x)) * 3];
  p[0] = c.r, p[1] = c.g, p[2] = c.b;
}

Rgb Canvas::at(int x, int y) const {
  const unsigned char* p = &rgb_[(size_t(y) * size_t(width_) + size_t(x)) * 3];
  return {p[0], p[1], p[2]};
}

void Canvas::line(int x0, int y0, int x1, int y1, Rgb c, int thickness) {
  // Bresenham; the pen is a thickness x thickness square centred on each point.
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  const int lo = -(thickness - 1) / 2;
  int err = dx + dy;
  for (;;) {
    for (int oy = lo; oy < lo + thickness; ++oy)
      for (int ox = lo; ox < lo + thickness; ++ox) pixel(x0 + ox, y0 + oy, c);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

void Canvas::fill_rect(int x, int y, int w, int h, Rgb c) {
  for (int yy = y; yy < y + h; ++yy)
    for (int xx = x; xx < x + w; ++xx) pixel(xx, yy, c);
}

void Canvas::frame_rect(int x, int y, int w, int h, Rgb c) {
  line(x, y, x + w - 1, y, c);
  line(x, y + h - 1, x + w - 1, y + h - 1, c);
  line(x, y, x, y + h - 1, c);
  line(x + w - 1, y, x + w - 1, y + h - 1, c);
}

void Canvas::text(int x, int y, const std::string& s, Rgb c, int scale) {
  for (char ch : s) {
    const Glyph& g = glyph(ch);
    for (int r = 0; r < kGlyphHeight; ++r)
      for (int col = 0; col < kGlyphWidth; ++col)
        if (g[size_t(r)] & (1u << (kGlyphWidth - 1 - col))) fill_rect(x + col * scale, y + r * scale, scale, scale, c);
    x += kGlyphAdvance * scale;
  }
}

int Canvas::text_width(const std::string& s, int scale) {
  return s.empty() ? 0 : (int(s.size()) * kGlyphAdvance - 1) * scale;
}

int Canvas::text_height(int scale) { return kGlyphHeight * scale; }

void Canvas::write_png(const std::string& path) const { elbo::write_png(path, rgb_, width_, height_, 3); }

}  // namespace elbo
