#include "elbo/train/sample_grids.h"

#include <algorithm>
#include <cmath>
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

// The one-hot rows (classes.size() x c) of classes; none for an unconditional model (c = 0).
std::vector<float> one_hot_rows(const std::vector<int32_t>& classes, int c) {
  std::vector<float> one_hot(classes.size() * size_t(c), 0.0f);
  for (size_t r = 0; c > 0 && r < classes.size(); ++r) {
    const int32_t k = classes[r];
    ELBO_CHECK(k >= 0 && k < c, "class " << k << " of a conditional model with model.classes = " << c
                                         << ": expected 0.." << c - 1);
    one_hot[r * size_t(c) + size_t(k)] = 1.0f;
  }
  return one_hot;
}

// out (count rows of out_dim) = pass(in) (count rows of in_dim), kDecodeRows rows at a time.
// Conditional models: conditions holds each row's condition (model.condition_dim() values,
// one-hot or a mix of classes), given to the model per chunk.
template <typename Pass>
void in_chunks(Backend& be, VaeModel& model, const char* what, int count, const std::vector<float>& in, int in_dim,
               std::vector<float>& out, int out_dim, const std::vector<float>& conditions, Pass pass) {
  const int rows = std::min(count, kDecodeRows);
  const size_t c = size_t(model.condition_dim());
  DeviceBuffer din(&be, size_t(rows) * in_dim), dout(&be, size_t(rows) * out_dim);
  DeviceBuffer dcond(&be, std::max<size_t>(1, size_t(rows) * c));
  ProgressMeter progress(what, "images", count, true);
  for (int r0 = 0; r0 < count; r0 += rows) {
    const int m = std::min(rows, count - r0);
    be.copy_to_device(din.data(), in.data() + size_t(r0) * in_dim, size_t(m) * in_dim);
    if (c > 0) {
      be.copy_to_device(dcond.data(), conditions.data() + size_t(r0) * c, size_t(m) * c);
      model.set_condition(dcond.data());
    }
    pass(dout.data(), din.data(), m);
    be.copy_to_host(out.data() + size_t(r0) * out_dim, dout.data(), size_t(m) * out_dim);
    progress.update(r0 + m);
  }
}

// out = the point at t in [0, 1] from a to b (n values each): linearly, or spherically
// (slerp: sin((1-t)w)/sin(w) a + sin(tw)/sin(w) b, w the angle between a and b; linear
// when they are (anti)parallel or zero).
void interpolate(const float* a, const float* b, int n, double t, bool spherical, float* out) {
  double w0 = 1.0 - t, w1 = t;
  if (spherical) {
    double aa = 0, bb = 0, ab = 0;
    for (int j = 0; j < n; ++j) {
      aa += double(a[j]) * a[j];
      bb += double(b[j]) * b[j];
      ab += double(a[j]) * b[j];
    }
    const double omega = aa > 0 && bb > 0 ? std::acos(std::clamp(ab / std::sqrt(aa * bb), -1.0, 1.0)) : 0.0;
    if (std::sin(omega) > 1e-6) {
      w0 = std::sin((1.0 - t) * omega) / std::sin(omega);
      w1 = std::sin(t * omega) / std::sin(omega);
    }
  }
  for (int j = 0; j < n; ++j) out[j] = float(w0 * a[j] + w1 * b[j]);
}

}  // namespace

void write_interpolations_png(const std::string& path, const std::vector<std::pair<int64_t, int64_t>>& pairs,
                              int steps, bool spherical, const ShardSetInfo& source, bool scale, Backend& be,
                              VaeModel& model) {
  const int dim = model.input_dim(), latent = model.latent_dim(), c = model.condition_dim();
  const bool conditional = c > 0;
  ELBO_CHECK(!conditional || source.has_labels,
             "a conditional model interpolates labelled images; " << source.manifest_path << " holds no labels");
  // Row 2p: image a of pair p, row 2p + 1: image b.
  const int ends = 2 * int(pairs.size());
  std::vector<float> x(size_t(ends) * dim), mu(size_t(ends) * latent);
  std::vector<int32_t> labels(size_t(ends), 0);
  for (int i = 0; i < ends; ++i) {
    const auto& [a, b] = pairs[size_t(i / 2)];
    read_samples(source, i % 2 ? b : a, 1, scale, x.data() + size_t(i) * dim, conditional ? &labels[size_t(i)] : nullptr);
  }
  const std::vector<float> end_conditions = one_hot_rows(labels, c);
  in_chunks(be, model, "encode", ends, x, dim, mu, latent, end_conditions,
            [&](float* out, const float* in, int m) { model.posterior_mean(be, out, in, m); });
  // steps points from a (t = 0) to b (t = 1); a conditional model's classes are mixed alike.
  const int count = int(pairs.size()) * steps;
  std::vector<float> z(size_t(count) * latent), conditions(size_t(count) * size_t(c)), decoded(size_t(count) * dim);
  for (int p = 0; p < int(pairs.size()); ++p)
    for (int s = 0; s < steps; ++s) {
      const double t = steps > 1 ? double(s) / double(steps - 1) : 0.0;
      const size_t row = size_t(p) * size_t(steps) + size_t(s);
      interpolate(&mu[size_t(2 * p) * latent], &mu[size_t(2 * p + 1) * latent], latent, t, spherical,
                  &z[row * latent]);
      if (conditional)
        interpolate(&end_conditions[size_t(2 * p) * c], &end_conditions[size_t(2 * p + 1) * c], c, t, false,
                    &conditions[row * size_t(c)]);
    }
  in_chunks(be, model, "interpolate", count, z, latent, decoded, dim, conditions,
            [&](float* out, const float* in, int m) { model.decode_mean(be, out, in, m); });
  // One row per pair: image a, the decoded points, image b.
  std::vector<float> grid;
  for (int p = 0; p < int(pairs.size()); ++p) {
    grid.insert(grid.end(), x.begin() + long(size_t(2 * p) * dim), x.begin() + long(size_t(2 * p + 1) * dim));
    grid.insert(grid.end(), decoded.begin() + long(size_t(p) * steps * dim),
                decoded.begin() + long(size_t(p + 1) * steps * dim));
    grid.insert(grid.end(), x.begin() + long(size_t(2 * p + 1) * dim), x.begin() + long(size_t(2 * p + 2) * dim));
  }
  create_parent_folders(path);
  write_png_grid(path, grid, int(pairs.size()) * (steps + 2), source.channels, source.height, source.width, steps + 2);
}

void write_prior_samples_png(const std::string& path, int count, int cols, uint64_t seed, Backend& be,
                             VaeModel& model, const ShardSetInfo& shape, int cls) {
  const int dim = model.input_dim(), latent = model.latent_dim();
  std::vector<float> z(size_t(count) * latent), images(size_t(count) * dim);
  model.sample_prior(be, z.data(), count, seed);
  std::vector<int32_t> classes(static_cast<size_t>(count));
  for (int r = 0; r < count; ++r)
    classes[size_t(r)] = cls >= 0 ? cls : model.condition_dim() > 0 ? (r / cols) % model.condition_dim() : 0;
  in_chunks(be, model, "sample", count, z, latent, images, dim, one_hot_rows(classes, model.condition_dim()),
            [&](float* out, const float* in, int m) { model.decode_mean(be, out, in, m); });
  create_parent_folders(path);
  write_png_grid(path, images, count, shape.channels, shape.height, shape.width, cols);
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
  in_chunks(be, model, "reconstruct", shown, x, dim, rec, dim, one_hot_rows(labels, model.condition_dim()),
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

void write_top_group_reconstructions_png(const std::string& path, int n, const std::vector<int>& top_groups,
                                         const ShardSetInfo& source, bool scale, Backend& be, VaeModel& model) {
  const int dim = model.input_dim();
  const int shown = int(std::min<int64_t>(n, source.count));
  ELBO_CHECK(model.condition_dim() == 0, "--top-groups: conditional models have no hierarchy of groups");
  std::vector<float> x(size_t(shown) * dim), rec(x.size());
  read_samples(source, 0, shown, scale, x.data(), nullptr);
  std::vector<float> grid = x;
  grid.resize(size_t(n) * dim, 0.0f);
  for (int k : top_groups) {
    in_chunks(be, model, "reconstruct", shown, x, dim, rec, dim, {},
              [&](float* out, const float* in, int m) { model.reconstruct_top_groups(be, out, in, m, k); });
    grid.insert(grid.end(), rec.begin(), rec.end());
    grid.resize(grid.size() + size_t(n - shown) * dim, 0.0f);
  }
  create_parent_folders(path);
  write_png_grid(path, grid, n * (1 + int(top_groups.size())), source.channels, source.height, source.width, n);
}

void write_sample_grids(const Config& config, const MpiContext& mpi, Backend& be, VaeModel& model,
                        const ShardSetInfo& train_data) {
  const int n = config.train.sample_grid;
  if (!mpi.is_root() || n <= 0) return;
  const std::string samples = config.run.dir + "/samples.png", recon = config.run.dir + "/reconstructions.png";
  write_prior_samples_png(samples, n * n, n, config.run.seed, be, model, train_data);
  const ShardSetInfo source = config.data.test.empty() ? train_data : open_shard_set(config.data.test);
  write_reconstructions_png(recon, n, source, config.data.scale, be, model);
  std::printf("elbo: wrote %s and %s\n", samples.c_str(), recon.c_str());
}

}  // namespace elbo
