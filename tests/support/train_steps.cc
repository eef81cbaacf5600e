#include "support/train_steps.h"

#include <cmath>

#include "elbo/error.h"
#include "elbo/kernels/philox.h"
#include "elbo/models/vae_model.h"
#include "elbo/optim/adam.h"

namespace elbo {

std::vector<float> synthetic_batches(int steps, int rows, int dim, uint64_t seed) {
  std::vector<float> images(size_t(steps) * rows * dim);
  for (size_t i = 0; i < images.size(); ++i) {
    // Mostly dark or bright pixels (one of four bar patterns per image) with a little
    // Philox noise: structure a VAE learns within a few steps.
    const size_t image = i / size_t(dim), pixel = i % size_t(dim);
    const bool on = (pixel / 7 + image) % 4 == 0;
    const float u = philox_uniform(seed, kRngSample, image, uint32_t(pixel));
    images[i] = on ? 0.8f + 0.2f * u : 0.2f * u;
  }
  return images;
}

TrainStepsResult run_train_steps(Backend& be, const ModelConfig& model_config, const TrainConfig& train, int dim,
                                 int rows, int steps, const std::vector<float>& images, uint64_t seed) {
  ELBO_CHECK(images.size() == size_t(steps) * rows * dim, "run_train_steps: images hold the wrong number of values");
  std::unique_ptr<VaeModel> model = make_model(model_config, dim, be, seed);
  ParamStore& ps = model->params();
  Adam adam(be, ps.total(), train);
  DeviceBuffer x(&be, size_t(rows) * dim), sums(&be, 2);
  TrainStepsResult out;
  const float inv_b = 1.0f / float(rows);
  for (int step = 0; step < steps; ++step) {
    const uint64_t serial0 = uint64_t(step) * uint64_t(rows);
    be.copy_to_device(x.data(), images.data() + size_t(step) * rows * dim, size_t(rows) * dim);
    be.binarize(x.data(), rows, dim, NoiseKey{seed, kRngBinarize, serial0, 0});
    be.fill(ps.grads(), ps.total(), 0.0f);
    model->forward(be, x.data(), rows, NoiseKey{seed, kRngReparam, serial0, 0});
    const float kl_weight = float(step + 1) / float(steps);
    model->backward(be, x.data(), rows, inv_b, kl_weight * inv_b, [](size_t) {});
    adam.step(ps.params(), ps.grads(), true);
    be.sum(sums.data(), model->recon_per_row(), rows);
    be.sum(sums.data() + 1, model->kl_per_row(), rows);
    float host[2];
    be.copy_to_host(host, sums.data(), 2);
    out.recon.push_back(double(host[0]) / rows);
    out.kl.push_back(double(host[1]) / rows);
  }
  auto download = [&](const float* p) {
    std::vector<float> h(ps.total());
    be.copy_to_host(h.data(), p, h.size());
    return h;
  };
  out.params = download(ps.params());
  out.adam_m = download(adam.m());
  out.adam_v = download(adam.v());
  return out;
}

double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  ELBO_CHECK(a.size() == b.size(), "relative_difference: sizes " << a.size() << " and " << b.size());
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    norm += double(b[i]) * b[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
}

}  // namespace elbo
