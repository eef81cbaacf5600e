// Sample grids (and any 8-bit picture) as PNG via libpng's simplified API (png_image), which reports
// errors as return values instead of longjmp across C++ frames.
#include "elbo/io/png_grid.h"

#include <png.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "elbo/error.h"

namespace elbo {
namespace {

constexpr int kBorder = 2;
// White border: the usual datasets (MNIST, Fashion-MNIST) draw light shapes on black,
// so a black border would merge neighbouring tiles.
constexpr png_byte kBorderValue = 255;

png_byte to_byte(float v) {
  if (!(v > 0.0f)) return 0;  // also NaN: a diverged sample shows as black, not as garbage
  if (v >= 1.0f) return 255;
  return static_cast<png_byte>(std::lround(v * 255.0f));
}

}  // namespace

void write_png_grid(const std::string& path, const std::vector<float>& images, int n, int channels, int height,
                    int width, int cols) {
  ELBO_CHECK(n >= 1, "png grid " << path << ": expected at least one image, got " << n);
  ELBO_CHECK(channels == 1 || channels == 3, "png grid " << path << ": expected 1 or 3 channels, got " << channels);
  ELBO_CHECK(height >= 1 && width >= 1, "png grid " << path << ": bad image size " << height << "x" << width);
  ELBO_CHECK(cols >= 1, "png grid " << path << ": expected cols >= 1, got " << cols);
  const size_t image_size = size_t(channels) * height * width;
  ELBO_CHECK(images.size() == size_t(n) * image_size,
             "png grid " << path << ": " << n << " images of " << channels << "x" << height << "x" << width << " need "
                         << size_t(n) * image_size << " values, got " << images.size());
  cols = std::min(cols, n);
  const int rows = (n + cols - 1) / cols;
  const int64_t grid_w = int64_t(cols) * (width + kBorder) + kBorder;
  const int64_t grid_h = int64_t(rows) * (height + kBorder) + kBorder;
  ELBO_CHECK(grid_w <= 1000000 && grid_h <= 1000000,
             "png grid " << path << ": " << grid_w << "x" << grid_h << " pixels is beyond PNG limits");

  // Images are planar (C, H, W); PNG rows interleave the channels.
  std::vector<png_byte> pixels(size_t(grid_w) * grid_h * channels, kBorderValue);
  for (int i = 0; i < n; ++i) {
    const float* img = images.data() + size_t(i) * image_size;
    const int64_t x0 = kBorder + int64_t(i % cols) * (width + kBorder);
    const int64_t y0 = kBorder + int64_t(i / cols) * (height + kBorder);
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x)
        for (int c = 0; c < channels; ++c)
          pixels[((y0 + y) * grid_w + x0 + x) * channels + c] = to_byte(img[(size_t(c) * height + y) * width + x]);
  }

  write_png(path, pixels, int(grid_w), int(grid_h), channels);
}

void write_png(const std::string& path, const std::vector<unsigned char>& pixels, int width, int height, int channels) {
  ELBO_CHECK(pixels.size() == size_t(width) * size_t(height) * size_t(channels),
             "png " << path << ": " << width << "x" << height << "x" << channels << " needs "
                    << size_t(width) * size_t(height) * size_t(channels) << " bytes, got " << pixels.size());
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  // A viewer polling the file during training sees the old picture or the new one, never half.
  const std::string tmp = path + ".tmp";
  if (!png_image_write_to_file(&image, tmp.c_str(), 0, pixels.data(), 0, nullptr)) {
    std::string reason = image.message;
    png_image_free(&image);
    std::remove(tmp.c_str());
    ELBO_FAIL("cannot write png " << tmp << ": " << reason);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    ELBO_FAIL("cannot rename " << tmp << " to " << path << ": " << std::strerror(err));
  }
}

}  // namespace elbo
