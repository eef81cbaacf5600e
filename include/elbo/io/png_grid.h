// Sample grids as PNG: n images of C x H x W (C = 1 grey or 3 RGB), values in [0,1]
// (clamped), tiled `cols` per row with a 2-pixel border.
#pragma once
#include <string>
#include <vector>

namespace elbo {

void write_png_grid(const std::string& path, const std::vector<float>& images, int n, int channels, int height,
                    int width, int cols);

// Any 8-bit picture: rows of width * channels bytes (channels 1: grey, 3: RGB), top row
// first. Written to path.tmp and renamed, so a reader never sees half a file.
void write_png(const std::string& path, const std::vector<unsigned char>& pixels, int width, int height, int channels);

}  // namespace elbo
