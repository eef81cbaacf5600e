#include "multi_line_panel.h"

#include <algorithm>
#include <cmath>

namespace elbo::cli {
namespace {

const Rgb kInk{40, 40, 40}, kGrid{225, 225, 225}, kFrame{150, 150, 150}, kTickText{90, 90, 90};

// Dashes of 6 pixels with gaps of 4 along the segment.
void dashed_line(Canvas& canvas, int x0, int y0, int x1, int y1, Rgb c) {
  const double length = std::hypot(double(x1 - x0), double(y1 - y0));
  for (double s = 0; s < length; s += 10) {
    const double e = std::min(length, s + 6);
    canvas.line(x0 + int(std::lround((x1 - x0) * s / length)), y0 + int(std::lround((y1 - y0) * s / length)),
                x0 + int(std::lround((x1 - x0) * e / length)), y0 + int(std::lround((y1 - y0) * e / length)), c, 1);
  }
}

}  // namespace

void draw_multi_panel(Canvas& canvas, const PanelBox& box, const MultiPanel& panel) {
  canvas.text(box.x + 8, box.y + 6, panel.title, kInk, 2);
  auto to_x = [&](double v) { return panel.log2_x ? std::log2(v) : v; };
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (const NamedSeries& s : panel.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || !(s.x[i] > 0 || !panel.log2_x)) continue;
      xlo = std::min(xlo, to_x(s.x[i])), xhi = std::max(xhi, to_x(s.x[i]));
      ylo = std::min(ylo, s.y[i]), yhi = std::max(yhi, s.y[i]);
    }
  if (!(xlo <= xhi)) xlo = 0, xhi = 1, ylo = 0, yhi = 1;  // nothing to draw: an empty frame
  if (!std::isnan(panel.y_min)) ylo = panel.y_min;
  if (!std::isnan(panel.y_max)) yhi = panel.y_max;
  if (xhi <= xlo) xlo -= 0.5, xhi += 0.5;
  if (yhi <= ylo) ylo -= ylo == 0 ? 1 : std::fabs(ylo) * 0.1, yhi += yhi == 0 ? 1 : std::fabs(yhi) * 0.1;
  const Ticks yt = nice_ticks(ylo, yhi, 5);
  ylo = std::floor(ylo / yt.step + 1e-9) * yt.step;
  yhi = std::ceil(yhi / yt.step - 1e-9) * yt.step;
  const Ticks y_ticks = nice_ticks(ylo, yhi, 5);
  Ticks x_ticks;
  if (panel.log2_x) {
    for (double k = std::ceil(xlo - 1e-9); k <= xhi + 1e-9; k += 1) x_ticks.values.push_back(k);
    x_ticks.step = 1;
  } else {
    x_ticks = nice_ticks(xlo, xhi, 6);
  }

  int label_width = 0;
  for (double v : y_ticks.values) label_width = std::max(label_width, Canvas::text_width(tick_label(v, y_ticks.step)));
  const int left = box.x + 14 + label_width, right = box.x + box.width - 16;
  const int top = box.y + 30, bottom = box.y + box.height - 34;
  if (right - left < 10 || bottom - top < 10) return;
  // A little room at both x ends, so the first and last points sit inside the frame.
  const double pad = (xhi - xlo) * 0.04;
  const double x0 = xlo - pad, x1 = xhi + pad;
  auto px = [&](double x) { return left + int(std::lround((x - x0) / (x1 - x0) * (right - left))); };
  auto py = [&](double y) { return bottom - int(std::lround((y - ylo) / (yhi - ylo) * (bottom - top))); };
  const int th = Canvas::text_height();
  for (double v : y_ticks.values) {
    canvas.line(left, py(v), right, py(v), kGrid);
    const std::string label = tick_label(v, y_ticks.step);
    canvas.text(left - 6 - Canvas::text_width(label), py(v) - th / 2, label, kTickText);
  }
  for (double v : x_ticks.values) {
    canvas.line(px(v), top, px(v), bottom, kGrid);
    const std::string label = panel.log2_x ? std::to_string(int64_t(std::lround(std::exp2(v)))) : tick_label(v, x_ticks.step);
    canvas.text(px(v) - Canvas::text_width(label) / 2, bottom + 6, label, kTickText);
  }
  canvas.frame_rect(left, top, right - left + 1, bottom - top + 1, kFrame);
  if (!panel.x_label.empty())
    canvas.text((left + right - Canvas::text_width(panel.x_label)) / 2, bottom + 8 + th + 4, panel.x_label, kTickText);

  int legend_y = top + 6;
  for (const NamedSeries& s : panel.series) {
    bool pen_down = false;
    int lx = 0, ly = 0;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || !(s.x[i] > 0 || !panel.log2_x)) {
        pen_down = false;
        continue;
      }
      const int x = px(to_x(s.x[i])), y = std::clamp(py(s.y[i]), top, bottom);
      if (pen_down && s.dashed) dashed_line(canvas, lx, ly, x, y, s.color);
      else if (pen_down) canvas.line(lx, ly, x, y, s.color, 2);
      // Measured points are filled squares, references' points hollow ones.
      if (s.dashed) canvas.frame_rect(x - 2, y - 2, 5, 5, s.color);
      else canvas.fill_rect(x - 2, y - 2, 5, 5, s.color);
      pen_down = true;
      lx = x, ly = y;
    }
    // Legend, top left inside the frame: a colour swatch and the name.
    if (s.dashed) dashed_line(canvas, left + 8, legend_y + 3, left + 24, legend_y + 3, s.color);
    else canvas.fill_rect(left + 8, legend_y + 2, 16, 3, s.color);
    canvas.text(left + 28, legend_y - 1, s.name, kInk);
    legend_y += th + 4;
  }
}

}  // namespace elbo::cli
