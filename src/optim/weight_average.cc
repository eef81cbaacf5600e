#include "elbo/optim/weight_average.h"

namespace elbo {

WeightAverage::WeightAverage(Backend& backend, size_t n, float decay) : be_(backend), n_(n), decay_(decay) {
  if (enabled()) {
    values_ = DeviceBuffer(&backend, n);
    scratch_ = DeviceBuffer(&backend, n);  // now, not at the first swap: steps allocate nothing
  }
}

void WeightAverage::swap_with(float* params) {
  if (!enabled()) return;
  be_.copy(scratch_.data(), params, n_);
  be_.copy(params, values_.data(), n_);
  be_.copy(values_.data(), scratch_.data(), n_);
}

void WeightAverage::start_from(const float* params) {
  if (enabled()) be_.copy(values_.data(), params, n_);
}

void WeightAverage::update(const float* params, const float* gate) {
  if (enabled()) be_.ema_update(values_.data(), params, n_, decay_, gate);
}

}  // namespace elbo
