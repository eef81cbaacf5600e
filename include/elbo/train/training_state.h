// Moving a replica's state in and out of a CheckpointState (host copies by name).
#pragma once
#include "elbo/backend.h"
#include "elbo/nn/param_store.h"
#include "elbo/optim/adam.h"
#include "elbo/train/checkpoint.h"

namespace elbo {

// Copies parameters (and Adam moments when adam is given) to named host arrays.
void capture_state(Backend& be, ParamStore& params, Adam* adam, CheckpointState& state);

// Copies named arrays back; every parameter must be present with its shape, else an
// Error names the checkpoint, the parameter and the mismatch.
void restore_state(const CheckpointState& state, const std::string& source, Backend& be, ParamStore& params,
                   Adam* adam);

}  // namespace elbo
