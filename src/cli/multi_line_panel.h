// A panel with several series on shared axes and a legend, for the scaling plot (elbo
// plot's panels hold one series each). The x axis may be logarithmic to base 2, since
// rank and GPU counts double from point to point.
#pragma once
#include <limits>
#include <string>
#include <vector>

#include "elbo/io/canvas.h"
#include "elbo/io/line_plot.h"

namespace elbo::cli {

struct NamedSeries {
  std::string name;          // in the legend
  std::vector<double> x, y;  // same length; a NaN y leaves a gap
  Rgb color;
  bool dashed = false;       // for references (ideal scaling, model)
};

struct MultiPanel {
  std::string title, x_label;
  bool log2_x = false;       // ticks at powers of two, labelled with the counts
  double y_min = std::numeric_limits<double>::quiet_NaN();  // fixed ends of the y range where
  double y_max = std::numeric_limits<double>::quiet_NaN();  // given (not NaN)
  std::vector<NamedSeries> series;
};

void draw_multi_panel(Canvas& canvas, const PanelBox& box, const MultiPanel& panel);

}  // namespace elbo::cli
