// A few training steps of a whole model on one backend, without the trainer or MPI: the
// trainer's StepProgram (binarize, zero grads, forward, backward, Adam, loss sums) on
// fixed synthetic images, so two backends (CUDA and CPU), two thread counts, or eager
// and graph-replayed steps can be compared on everything a step computes.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/models/vae_model.h"

namespace elbo {

struct TrainStepsResult {
  std::vector<float> params;        // after the last step
  std::vector<float> adam_m, adam_v;
  std::vector<double> recon, kl;    // per step: mean over the batch
  bool graph_used = false;          // the steps after the second were graph replays
  std::string graph_failure;        // why capturing failed, when graph was asked for
  int graph_captures = 0;           // graphs captured (more than one after a re-capture)
};

// Device work between two steps (after step `step`, from 0), such as a sampling pass.
using BetweenSteps = std::function<void(Backend& be, VaeModel& model, int step)>;

// Synthetic [0,1] images for `steps` batches of `rows`, each `dim` values (a pure
// function of seed).
std::vector<float> synthetic_batches(int steps, int rows, int dim, uint64_t seed);

// Trains make_model(model, dim, be, seed) for `steps` steps of `rows` rows from
// `images` (steps * rows * dim values), with dynamic binarization, Adam with train's
// lr/betas and a linear KL warm-up over `steps` steps (with train.objective: iwae, the
// iwae objective with train.iw_samples, its log-weights warmed up by the same weight when
// train.kl_warmup_steps > 0); graph: let the program capture
// the step and replay it; between_steps: called after every step.
TrainStepsResult run_train_steps(Backend& be, const ModelConfig& model, const TrainConfig& train, int dim, int rows,
                                 int steps, const std::vector<float>& images, uint64_t seed, bool graph = false,
                                 const BetweenSteps& between_steps = {});

// The same for a model of inputs shaped like `sample` (1, C, H, W): conv models.
TrainStepsResult run_train_steps(Backend& be, const ModelConfig& model, const TrainConfig& train, Shape sample, int rows,
                                 int steps, const std::vector<float>& images, uint64_t seed, bool graph = false,
                                 const BetweenSteps& between_steps = {});

// ||a - b|| / ||b|| over the whole vectors.
double relative_difference(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace elbo
