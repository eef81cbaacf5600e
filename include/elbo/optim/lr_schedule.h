// The learning rate of each optimiser step (train.lr_schedule): a linear warm-up over
// train.lr_warmup_steps, then constant, cosine decay to train.lr_min at the last step
// (Loshchilov & Hutter's SGDR without restarts), or a step decay by train.lr_decay_gamma
// every train.lr_decay_every steps. A function of the step number and the run's length
// only, so a resumed run (on any number of ranks) continues with the same rates.
#pragma once
#include <cstdint>

#include "elbo/config.h"

namespace elbo {

// Learning rate of step t (counted from 1) of a run of total_steps steps.
double learning_rate_at(const TrainConfig& train, int64_t t, int64_t total_steps);

}  // namespace elbo
