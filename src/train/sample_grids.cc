#include "elbo/train/sample_grids.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "elbo/error.h"
#include "elbo/io/png_grid.h"
#include "elbo/io/progress.h"
#include "elbo/kernels/philox.h"
#include "elbo/train/run_outputs.h"

namespace elbo {
namespace {

// Rows decoded at once: bounds device memory for big grids and models, and lets a
// progress line appear when decoding takes long.
constexpr int kDecodeRows = 256;

// out (count rows of out_dim) = pass(in) (count rows of in_dim), kDecodeRows rows at a time.
// Conditional models: classes holds each row's class, given to the model per chunk.
template <typename Pass>
void in_chunks(Backend& be, VaeModel& model, const char* what, int count, const std::vector<float>& in, int in_dim,
               std::vector<float>& out, int out_dim, const std::vector<int32_t>& classes, Pass pass) {
  const int rows = std::min(count, kDecodeRows);
  const int c = model.condition_dim();
  DeviceBuffer din(&be, size_t(rows) * in_dim), dout(&be, size_t(rows) * out_dim);
  DeviceBuffer dcond(&be, std::max<size_t>(1, size_t(rows) * size_t(c)));
  std::vector<float> one_hot(size_t(rows) * size_t(c));
  ProgressMeter progress(what, "images", count, true);
  for (int r0 = 0; r0 < count; r0 += rows) {
    const int m = std::min(rows, count - r0);
    be.copy_to_device(din.data(), in.data() + size_t(r0) * in_dim, size_t(m) * in_dim);
    if (c > 0) {
      std::fill(one_hot.begin(), one_hot.end(), 0.0f);
      for (int r = 0; r < m; ++r) {
        const int32_t k = classes[size_t(r0 + r)];
        ELBO_CHECK(k >= 0 && k < c, "class " << k << " of a conditional model with model.classes = " << c
                                             << ": expected 0.." << c - 1);
        one_hot[size_t(r) * size_t(c) + size_t(k)] = 1.0f;
      }
      be.copy_to_device(dcond.data(), one_hot.data(), size_t(m) * size_t(c));
      model.set_condition(dcond.data());
    }
    pass(dout.data(), din.data(), m);
    be.copy_to_host(out.data() + size_t(r0) * out_dim, dout.data(), size_t(m) * out_dim);
    progress.update(r0 + m);
  }
}

}  // namespace

void write_prior_samples_png(const std::string& path, int n, uint64_t seed, Backend& be, VaeModel& model,
                             const ShardSetInfo& shape, int cls) {
  const int dim = model.input_dim(), latent = model.latent_dim(), count = n * n;
  std::vector<float> z(size_t(count) * latent), images(size_t(count) * dim);
  for (int r = 0; r < count; ++r)
    for (int j = 0; j < latent; ++j) z[size_t(r) * latent + j] = philox_normal(seed, kRngSample, r, j);
  std::vector<int32_t> classes(static_cast<size_t>(count));
  for (int r = 0; r < count; ++r)
    classes[size_t(r)] = cls >= 0 ? cls : model.condition_dim() > 0 ? (r / n) % model.condition_dim() : 0;
  in_chunks(be, model, "sample", count, z, latent, images, dim, classes,
            [&](float* out, const float* in, int m) { model.decode_mean(be, out, in, m); });
  create_parent_folders(path);
  write_png_grid(path, images, count, shape.channels, shape.height, shape.width, n);
}

void write_reconstructions_png(const std::string& path, int n, const ShardSetInfo& source, bool scale, Backend& be,
                               VaeModel& model) {
  const int dim = model.input_dim();
  const int pairs = std::max(1, (n / 2) * n);
  const int shown = int(std::min<int64_t>(pairs, source.count));
  std::vector<float> x(size_t(shown) * dim), rec(size_t(shown) * dim);
  std::vector<int32_t> labels(size_t(shown), 0);
  const bool conditional = model.condition_dim() > 0;
  ELBO_CHECK(!conditional || source.has_labels,
             "a conditional model reconstructs labelled images; " << source.manifest_path << " holds no labels");
  read_samples(source, 0, shown, scale, x.data(), conditional ? labels.data() : nullptr);
  in_chunks(be, model, "reconstruct", shown, x, dim, rec, dim, labels,
            [&](float* out, const float* in, int m) { model.reconstruct(be, out, in, m); });
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
  create_parent_folders(path);
  write_png_grid(path, grid, cells, source.channels, source.height, source.width, n);
}

void write_sample_grids(const Config& config, const MpiContext& mpi, Backend& be, VaeModel& model,
                        const ShardSetInfo& train_data) {
  const int n = config.train.sample_grid;
  if (!mpi.is_root() || n <= 0) return;
  const std::string samples = config.run.dir + "/samples.png", recon = config.run.dir + "/reconstructions.png";
  write_prior_samples_png(samples, n, config.run.seed, be, model, train_data);
  const ShardSetInfo source = config.data.test.empty() ? train_data : open_shard_set(config.data.test);
  write_reconstructions_png(recon, n, source, config.data.scale, be, model);
  std::printf("elbo: wrote %s and %s\n", samples.c_str(), recon.c_str());
}

}  // namespace elbo
