#include "elbo/train/sample_grids.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "elbo/io/png_grid.h"
#include "elbo/kernels/philox.h"

namespace elbo {

void write_sample_grids(const Config& config, const MpiContext& mpi, Backend& be, VaeModel& model,
                        const ShardSetInfo& train_data) {
  const int n = config.train.sample_grid;
  if (!mpi.is_root() || n <= 0) return;
  const int dim = model.input_dim(), latent = model.latent_dim(), count = n * n;
  const int c = train_data.channels, h = train_data.height, w = train_data.width;

  // Prior samples.
  std::vector<float> z(size_t(count) * latent), images(size_t(count) * dim);
  for (int r = 0; r < count; ++r)
    for (int j = 0; j < latent; ++j) z[size_t(r) * latent + j] = philox_normal(config.run.seed, kRngSample, r, j);
  DeviceBuffer dz(&be, z.size()), dout(&be, images.size());
  be.copy_to_device(dz.data(), z.data(), z.size());
  model.decode_mean(be, dout.data(), dz.data(), count);
  be.copy_to_host(images.data(), dout.data(), images.size());
  const std::string samples = config.run.dir + "/samples.png";
  write_png_grid(samples, images, count, c, h, w, n);

  // Reconstructions of the first inputs of the test set (the training set if none).
  ShardSetInfo source = config.data.test.empty() ? train_data : open_shard_set(config.data.test);
  const int pairs = std::max(1, (n / 2) * n);
  const int shown = int(std::min<int64_t>(pairs, source.count));
  std::vector<float> x(size_t(shown) * dim), rec(size_t(shown) * dim);
  read_samples(source, 0, shown, config.data.scale, x.data());
  DeviceBuffer dx(&be, x.size()), drec(&be, rec.size());
  be.copy_to_device(dx.data(), x.data(), x.size());
  model.reconstruct(be, drec.data(), dx.data(), shown);
  be.copy_to_host(rec.data(), drec.data(), rec.size());
  // Row 2i: inputs, row 2i+1: their reconstructions.
  std::vector<float> grid;
  int cells = 0;
  for (int row0 = 0; row0 < shown; row0 += n) {
    const int in_row = std::min(n, shown - row0);
    for (const std::vector<float>* src : {&x, &rec}) {
      grid.insert(grid.end(), src->begin() + long(size_t(row0) * dim), src->begin() + long(size_t(row0 + in_row) * dim));
      grid.resize(grid.size() + size_t(n - in_row) * dim, 0.0f);
      cells += n;
    }
  }
  const std::string recon = config.run.dir + "/reconstructions.png";
  write_png_grid(recon, grid, cells, c, h, w, n);
  std::printf("elbo: wrote %s and %s\n", samples.c_str(), recon.c_str());
}

}  // namespace elbo
