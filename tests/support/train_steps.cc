#include "support/train_steps.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "elbo/error.h"
#include "elbo/kernels/philox.h"
#include "elbo/models/vae_model.h"
#include "elbo/optim/adam.h"
#include "elbo/train/step_program.h"

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
                                 int rows, int steps, const std::vector<float>& images, uint64_t seed, bool graph,
                                 const BetweenSteps& between_steps) {
  return run_train_steps(be, model_config, train, Shape::rows(1, dim), rows, steps, images, seed, graph,
                         between_steps);
}

TrainStepsResult run_train_steps(Backend& be, const ModelConfig& model_config, const TrainConfig& train, Shape sample,
                                 int rows, int steps, const std::vector<float>& images, uint64_t seed, bool graph,
                                 const BetweenSteps& between_steps) {
  const int dim = int(sample.row_size());
  ELBO_CHECK(images.size() == size_t(steps) * rows * dim, "run_train_steps: images hold the wrong number of values");
  std::unique_ptr<VaeModel> model = make_model(model_config, sample, be, seed);
  model->set_recompute(train.recompute);
  // The iwae objective (with its warm-up, when train.kl_warmup_steps says so); the ELBO
  // otherwise, whose KL weight ramps over the steps as below.
  if (train.objective == "iwae") model->set_objective(Objective::from_config(train));
  ParamStore& ps = model->params();
  Adam adam(be, ps.total(), train);
  StepShape shape;
  shape.rows = rows;
  shape.dim = dim;
  shape.global_batch = rows;
  shape.seed = seed;
  shape.dynamic_binarize = true;
  shape.samples_per_image = train.objective == "iwae" ? int(train.iw_samples) : 1;
  StepProgram program(be, *model, adam, nullptr, shape);
  program.allow_graph(graph);
  std::vector<float> upload(program.step_input_floats());
  TrainStepsResult out;
  for (int step = 0; step < steps; ++step) {
    const StepScalars sc = program.scalars(step, uint64_t(step) * uint64_t(rows), float(step + 1) / float(steps));
    std::memcpy(upload.data(), &sc, sizeof sc);
    std::copy_n(images.data() + size_t(step) * rows * dim, size_t(rows) * dim, upload.data() + kStepScalarFloats);
    be.copy_to_device(program.step_input(), upload.data(), upload.size());
    program.reset_loss_sums();
    program.run(/*measure_norm=*/true);
    float sums[2];
    be.copy_to_host(sums, program.loss_sums(), 2);
    out.recon.push_back(double(sums[0]) / rows);
    out.kl.push_back(double(sums[1]) / rows);
    if (between_steps) between_steps(be, *model, step);
  }
  auto download = [&](const float* p) {
    std::vector<float> h(ps.total());
    be.copy_to_host(h.data(), p, h.size());
    return h;
  };
  out.params = download(ps.params());
  out.adam_m = download(adam.m());
  out.adam_v = download(adam.v());
  out.graph_used = program.graph_active();
  out.graph_failure = program.graph_failure();
  out.graph_captures = program.graph_captures();
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
