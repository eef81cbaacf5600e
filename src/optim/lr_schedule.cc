#include "elbo/optim/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace elbo {

double learning_rate_at(const TrainConfig& train, int64_t t, int64_t total_steps) {
  const double lr = train.lr;
  const int64_t warmup = train.lr_warmup_steps;
  if (warmup > 0 && t <= warmup) return lr * double(t) / double(warmup);
  const int64_t after = t - warmup;  // steps since the warm-up ended (>= 1 here, or t without one)
  if (train.lr_schedule == "cosine") {
    const int64_t span = std::max<int64_t>(1, total_steps - warmup);
    const double progress = std::min(1.0, double(after) / double(span));
    const double floor = std::min<double>(train.lr_min, lr);
    return floor + (lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  if (train.lr_schedule == "step") {
    const int64_t decays = (after - 1) / std::max<int64_t>(1, train.lr_decay_every);
    return lr * std::pow(double(train.lr_decay_gamma), double(decays));
  }
  return lr;  // constant
}

}  // namespace elbo
