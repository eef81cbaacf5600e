// The training loop of one rank. All ranks run it; rank 0 alone writes files.
//
// A step: next local slice of the global batch -> (dynamic binarization) -> forward
// -> backward with bucketed all-reduce overlapped -> clip -> fused Adam. Losses stay
// on the device and are reduced across ranks only every train.log_every steps.
// A stop signal on any rank is agreed on at the end of each step: rank 0 then writes
// a checkpoint and every rank returns 0.
#pragma once
#include <memory>
#include <string>

#include "elbo/config.h"
#include "elbo/dist/mpi_context.h"

namespace elbo {

struct TrainOutcome {
  int64_t steps_done = 0;
  bool stopped_by_signal = false;
  bool completed = false;
};

TrainOutcome train(const Config& config, MpiContext& mpi);

// Total optimiser steps of a run: train.steps, or epochs worth of global batches.
int64_t total_steps(const Config& config, int64_t dataset_count);

}  // namespace elbo
