// PNG sample grids: geometry (2-pixel borders), clamping, channel interleaving, read
// back with libpng; bad arguments and unwritable paths name the file.
#include <gtest/gtest.h>
#include <png.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>

#include "elbo/error.h"
#include "elbo/io/png_grid.h"
#include "support/synthetic_data.h"
#include "support/temp_dir_test.h"

namespace elbo {
namespace {

namespace fs = std::filesystem;

struct Decoded {
  int width = 0, height = 0;
  std::vector<png_byte> pixels;  // interleaved, `channels` bytes per pixel
};

Decoded read_png(const std::string& path, int channels) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  Decoded out;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    ADD_FAILURE() << "libpng cannot read " << path << ": " << image.message;
    return out;
  }
  EXPECT_EQ(PNG_IMAGE_PIXEL_CHANNELS(image.format), unsigned(channels)) << "stored colour type";
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  out.width = int(image.width);
  out.height = int(image.height);
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  EXPECT_TRUE(png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr)) << image.message;
  return out;
}

class PngGridTest : public TempDirTest {
 protected:
  PngGridTest() : TempDirTest("elbo_png") {}
};

TEST_F(PngGridTest, GrayGridOfNineDigits) {
  const int n = 9, h = 28, w = 28;
  std::vector<float> images(size_t(n) * h * w);
  // Tile i is a flat grey i/8, with three special pixels.
  for (int i = 0; i < n; ++i)
    for (int p = 0; p < h * w; ++p) images[size_t(i) * h * w + p] = float(i) / 8.0f;
  images[0 * h * w + 5 * w + 6] = 1.7f;    // clamped to 255
  images[8 * h * w + 27 * w + 27] = -3.f;  // clamped to 0
  images[4 * h * w + 0] = std::nanf("");   // a diverged sample: black, not garbage
  const std::string path = dir_ + "/grid.png";
  write_png_grid(path, images, n, 1, h, w, 3);

  Decoded png = read_png(path, 1);
  ASSERT_EQ(png.width, 3 * (28 + 2) + 2);
  ASSERT_EQ(png.height, 3 * (28 + 2) + 2);
  auto at = [&](int y, int x) { return int(png.pixels[size_t(y) * png.width + x]); };
  // Tile (row r, col c) starts at 2 + 30*r, 2 + 30*c.
  EXPECT_EQ(at(0, 0), 255);              // outer border
  EXPECT_EQ(at(1, 40), 255);             // top border, over tile 1
  EXPECT_EQ(at(40, 30), 255);            // vertical border between tiles 3 and 4
  EXPECT_EQ(at(2, 2), 0);                // tile 0: value 0
  EXPECT_EQ(at(2 + 5, 2 + 6), 255);      // tile 0: 1.7 clamped
  EXPECT_EQ(at(2, 32), 32);              // tile 1: round(255/8)
  EXPECT_EQ(at(32, 32), 0);              // tile 4, pixel 0: NaN
  EXPECT_EQ(at(32, 33), 128);            // tile 4: round(255*4/8)
  EXPECT_EQ(at(62 + 27, 62 + 26), 255);  // tile 8: value 1
  EXPECT_EQ(at(62 + 27, 62 + 27), 0);    // tile 8: -3 clamped
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST_F(PngGridTest, RgbIsInterleavedAndColumnsShrinkToN) {
  const int n = 2, c = 3, h = 4, w = 5;
  std::vector<float> images(size_t(n) * c * h * w, 0.0f);
  // Image 1, pixel (y=1, x=2): R=1, G=0.5, B=0 (planar input).
  images[size_t(1) * c * h * w + 0 * h * w + 1 * w + 2] = 1.0f;
  images[size_t(1) * c * h * w + 1 * h * w + 1 * w + 2] = 0.5f;
  const std::string path = dir_ + "/rgb.png";
  write_png_grid(path, images, n, c, h, w, 8);  // 8 columns asked, 2 images: 2 columns
  Decoded png = read_png(path, 3);
  ASSERT_EQ(png.width, 2 * (w + 2) + 2);
  ASSERT_EQ(png.height, h + 4);
  const size_t px = (size_t(2 + 1) * png.width + (2 + w + 2) + 2) * 3;
  EXPECT_EQ(png.pixels[px + 0], 255);
  EXPECT_EQ(png.pixels[px + 1], 128);
  EXPECT_EQ(png.pixels[px + 2], 0);
  EXPECT_EQ(png.pixels[0], 255);  // border is white in every channel
}

TEST_F(PngGridTest, ErrorsNameThePath) {
  const std::string path = dir_ + "/bad.png";
  std::vector<float> images(10, 0.f);
  for (auto call : std::vector<std::function<void()>>{
           [&] { write_png_grid(path, images, 1, 1, 3, 3, 1); },  // 10 values, 9 expected
           [&] { write_png_grid(path, images, 1, 2, 5, 1, 1); },  // 2 channels
           [&] { write_png_grid(path, images, 0, 1, 3, 3, 1); },
       }) {
    try {
      call();
      ADD_FAILURE() << "expected elbo::Error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  const std::string unwritable = dir_ + "/no/such/dir/grid.png";
  images.resize(9);
  try {
    write_png_grid(unwritable, images, 1, 1, 3, 3, 1);
    ADD_FAILURE() << "expected elbo::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(unwritable), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace elbo
