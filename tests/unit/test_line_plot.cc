// The plot renderer of `elbo plot`: nice ticks and their labels, a glyph for every
// printable character, text and lines that leave ink, a panel that draws its series
// (with a gap at a missing value) and a PNG of the canvas's size.
#include <gtest/gtest.h>

#include <cmath>

#include "elbo/io/bitmap_font.h"
#include "elbo/io/canvas.h"
#include "elbo/io/line_plot.h"
#include "support/temp_dir_test.h"

namespace elbo {
namespace {

class LinePlotTest : public TempDirTest {
 protected:
  LinePlotTest() : TempDirTest("elbo_plot") {}
};

int count_color(const Canvas& c, Rgb color, int x0 = 0, int x1 = -1) {
  int n = 0;
  for (int y = 0; y < c.height(); ++y)
    for (int x = x0; x < (x1 < 0 ? c.width() : x1); ++x) {
      const Rgb p = c.at(x, y);
      n += p.r == color.r && p.g == color.g && p.b == color.b;
    }
  return n;
}

TEST(LinePlot, NiceTicks) {
  Ticks t = nice_ticks(0, 4687, 6);
  EXPECT_EQ(t.step, 1000);
  EXPECT_EQ(t.values, (std::vector<double>{0, 1000, 2000, 3000, 4000}));
  t = nice_ticks(250.3, 262.9, 5);
  EXPECT_EQ(t.step, 5);
  EXPECT_EQ(t.values, (std::vector<double>{255, 260}));
  t = nice_ticks(-1, 1, 4);
  EXPECT_EQ(t.step, 0.5);
  EXPECT_EQ(t.values.size(), 5u);
  EXPECT_EQ(t.values[2], 0.0);
}

TEST(LinePlot, TickLabels) {
  EXPECT_EQ(tick_label(2000, 1000), "2000");
  EXPECT_EQ(tick_label(0.0005, 0.0005), "0.0005");
  EXPECT_EQ(tick_label(0.25, 0.05), "0.25");
  EXPECT_EQ(tick_label(1e-6, 1e-7), "1e-06");
}

TEST(LinePlot, EveryPrintableCharacterHasAGlyph) {
  const Glyph& unknown = glyph('\x01');
  for (char c = ' '; c <= '~'; ++c) {
    const Glyph& g = glyph(c);
    if (c != ' ' && c != '?') {
      bool ink = false;
      for (uint8_t row : g) ink = ink || row != 0;
      EXPECT_TRUE(ink) << "'" << c << "' has no ink";
    }
    if (std::isalnum(static_cast<unsigned char>(c))) EXPECT_NE(&g, &unknown) << "'" << c << "' has no glyph";
  }
}

TEST(LinePlot, TextAndLinesLeaveInk) {
  Canvas c(100, 40, Rgb{255, 255, 255});
  const Rgb ink{10, 20, 30};
  c.text(2, 2, "step 42", ink, 2);
  EXPECT_GT(count_color(c, ink), 50);
  EXPECT_EQ(Canvas::text_width("step 42", 2), (7 * kGlyphAdvance - 1) * 2);
  Canvas d(50, 50, Rgb{0, 0, 0});
  d.line(0, 0, 49, 49, ink, 2);
  EXPECT_GE(count_color(d, ink), 50);
  d.line(-100, 10, 200, 10, ink);  // clipped, not a crash
}

TEST_F(LinePlotTest, PanelDrawsTheSeriesWithAGapAndWritesPng) {
  Canvas c(400, 300, Rgb{255, 255, 255});
  const Rgb color{31, 119, 180};
  PlotSeries s{"loss", "step", {10, 20, 30, 40, 50, 60}, {500, 400, std::nan(""), 300, 290, 280}};
  draw_line_panel(c, PanelBox{0, 0, 400, 300}, s, color);
  EXPECT_GT(count_color(c, color), 200);
  // Between steps 20 and 40 the value is missing: no stroke crosses the middle of that span.
  int left = 0, right = 0;
  for (int x = 0; x < c.width(); ++x) {
    bool any = false;
    for (int y = 0; y < c.height(); ++y) {
      const Rgb p = c.at(x, y);
      any = any || (p.r == color.r && p.g == color.g && p.b == color.b);
    }
    if (any) right = x, left = left ? left : x;
  }
  EXPECT_GT(right - left, 250) << "the curve spans the panel";
  const std::string path = dir_ + "/panel.png";
  c.write_png(path);
  EXPECT_TRUE(std::filesystem::file_size(path) > 1000);
}

}  // namespace
}  // namespace elbo
