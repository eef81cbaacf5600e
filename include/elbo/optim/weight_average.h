// The exponential moving average of the weights (train.ema_decay; Polyak averaging as
// NVAE and VDVAE use it): after every applied step e <- d e + (1 - d) p, on the device,
// gated like the optimiser so a skipped step leaves it unchanged. Evaluation, sampling
// and the other tools use it when a checkpoint holds one (/ema in the file); training
// goes on from the raw parameters.
#pragma once
#include <cstddef>

#include "elbo/backend.h"

namespace elbo {

class WeightAverage {
 public:
  // decay 0: off (no buffer, update() does nothing).
  WeightAverage(Backend& backend, size_t n, float decay);
  bool enabled() const { return decay_ > 0.0f; }
  float decay() const { return decay_; }
  // Starts the average at the current parameters (a new run).
  void start_from(const float* params);
  // One step: gate is the step's UpdateGate (kernels/math.h), or nullptr.
  void update(const float* params, const float* gate);
  float* values() { return values_.data(); }
  size_t size() const { return n_; }
  // Exchanges the contents of params and the average (twice: back as before), so that
  // validation and the end-of-run pictures run the model on the averaged weights.
  void swap_with(float* params);

 private:
  Backend& be_;
  size_t n_;
  float decay_;
  DeviceBuffer values_, scratch_;
};

}  // namespace elbo
