// One panel of a line plot on a Canvas: a title, a framed area with grid lines and
// labelled ticks ("nice" steps of 1, 2 or 5 times a power of ten) on both axes, and the
// series as a polyline (NaN values leave a gap). `elbo plot` lays several out.
#pragma once
#include <string>
#include <vector>

#include "elbo/io/canvas.h"

namespace elbo {

struct PlotSeries {
  std::string title;          // drawn above the panel
  std::string x_label;        // drawn under the x axis
  std::vector<double> x, y;   // same length; y NaN: no point
};

struct PanelBox {
  int x = 0, y = 0, width = 0, height = 0;
};

void draw_line_panel(Canvas& canvas, const PanelBox& box, const PlotSeries& series, Rgb color);

// Ticks covering [lo, hi] (lo < hi) at most about max_ticks of them, with their step.
struct Ticks {
  std::vector<double> values;
  double step = 1.0;
};
Ticks nice_ticks(double lo, double hi, int max_ticks);

// A tick's label, with as many decimals as the step needs ("0.0005", "2000", "1e-07").
std::string tick_label(double value, double step);

}  // namespace elbo
