#include "elbo/io/line_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace elbo {
namespace {

const Rgb kInk{40, 40, 40}, kGrid{225, 225, 225}, kFrame{150, 150, 150}, kTickText{90, 90, 90};

// The finite range of v, or false when it holds no finite value.
bool finite_range(const std::vector<double>& v, double* lo, double* hi) {
  bool any = false;
  for (double a : v) {
    if (!std::isfinite(a)) continue;
    *lo = any ? std::min(*lo, a) : a;
    *hi = any ? std::max(*hi, a) : a;
    any = true;
  }
  return any;
}

// A flat series still gets a visible range around its value.
void widen_if_flat(double* lo, double* hi) {
  if (*hi > *lo) return;
  const double pad = *lo == 0.0 ? 1.0 : std::fabs(*lo) * 0.1;
  *lo -= pad;
  *hi += pad;
}

}  // namespace

Ticks nice_ticks(double lo, double hi, int max_ticks) {
  Ticks t;
  const double raw = (hi - lo) / std::max(1, max_ticks);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  t.step = (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * magnitude;
  for (double v = std::ceil(lo / t.step) * t.step; v <= hi + 1e-9 * t.step; v += t.step)
    t.values.push_back(std::fabs(v) < 1e-12 * t.step ? 0.0 : v);
  return t;
}

std::string tick_label(double value, double step) {
  char buf[32];
  if (step < 1e-4 || std::fabs(value) >= 1e7) {
    std::snprintf(buf, sizeof buf, "%.3g", value);
  } else {
    const int decimals = step >= 1.0 ? 0 : int(std::ceil(-std::log10(step) - 1e-9));
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  }
  return buf;
}

void draw_line_panel(Canvas& canvas, const PanelBox& box, const PlotSeries& s, Rgb color) {
  canvas.text(box.x + 8, box.y + 6, s.title, kInk, 2);
  double xlo = 0, xhi = 1, ylo = 0, yhi = 1;
  const bool has_points = finite_range(s.x, &xlo, &xhi) && finite_range(s.y, &ylo, &yhi);
  widen_if_flat(&xlo, &xhi);
  widen_if_flat(&ylo, &yhi);
  const Ticks yt = nice_ticks(ylo, yhi, 5);
  // The y range snaps outwards to whole ticks, so the curve never touches the frame.
  ylo = std::floor(ylo / yt.step + 1e-9) * yt.step;
  yhi = std::ceil(yhi / yt.step - 1e-9) * yt.step;
  const Ticks y_ticks = nice_ticks(ylo, yhi, 5), x_ticks = nice_ticks(xlo, xhi, 6);

  int label_width = 0;
  for (double v : y_ticks.values) label_width = std::max(label_width, Canvas::text_width(tick_label(v, y_ticks.step)));
  const int left = box.x + 14 + label_width, right = box.x + box.width - 16;
  const int top = box.y + 30, bottom = box.y + box.height - 34;
  if (right - left < 10 || bottom - top < 10) return;  // too small to draw into
  auto px = [&](double x) { return left + int(std::lround((x - xlo) / (xhi - xlo) * (right - left))); };
  auto py = [&](double y) { return bottom - int(std::lround((y - ylo) / (yhi - ylo) * (bottom - top))); };

  const int th = Canvas::text_height();
  for (double v : y_ticks.values) {
    const int y = py(v);
    canvas.line(left, y, right, y, kGrid);
    const std::string label = tick_label(v, y_ticks.step);
    canvas.text(left - 6 - Canvas::text_width(label), y - th / 2, label, kTickText);
  }
  for (double v : x_ticks.values) {
    const int x = px(v);
    canvas.line(x, top, x, bottom, kGrid);
    const std::string label = tick_label(v, x_ticks.step);
    canvas.text(x - Canvas::text_width(label) / 2, bottom + 6, label, kTickText);
  }
  canvas.frame_rect(left, top, right - left + 1, bottom - top + 1, kFrame);
  if (!s.x_label.empty())
    canvas.text((left + right - Canvas::text_width(s.x_label)) / 2, bottom + 8 + th + 4, s.x_label, kTickText);
  if (!has_points) return;

  bool pen_down = false;
  int last_x = 0, last_y = 0;
  for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
    if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
      pen_down = false;  // a gap: the next point starts a new stroke
      continue;
    }
    const int x = px(s.x[i]), y = py(s.y[i]);
    if (pen_down) canvas.line(last_x, last_y, x, y, color, 2);
    else canvas.fill_rect(x - 1, y - 1, 3, 3, color);  // a lone point stays visible
    pen_down = true;
    last_x = x, last_y = y;
  }
}

}  // namespace elbo
