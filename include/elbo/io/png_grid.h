// Sample grids as PNG: n images of C x H x W (C = 1 grey or 3 RGB), values in [0,1]
// (clamped), tiled `cols` per row with a 2-pixel border.
#pragma once
#include <string>
#include <vector>

namespace elbo {

void write_png_grid(const std::string& path, const std::vector<float>& images, int n, int channels, int height,
                    int width, int cols);

}  // namespace elbo
