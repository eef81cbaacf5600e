// Moving a replica's state in and out of a CheckpointState (host copies by name).
#pragma once
#include "elbo/backend.h"
#include "elbo/nn/param_store.h"
#include "elbo/optim/weight_average.h"
#include "elbo/train/checkpoint.h"
#include "elbo/train/optimizer_state.h"

namespace elbo {

// Copies parameters (and Adam's whole moments when given and not empty: gather_moments,
// the weight average when ema is enabled) to named host arrays.
void capture_state(Backend& be, ParamStore& params, const HostMoments* moments, CheckpointState& state,
                   WeightAverage* ema = nullptr);

// Copies named arrays back (the moments, when the checkpoint has some, into moments on
// the host: scatter_moments takes them to the optimizer); every parameter must be
// present with its shape, else an Error names the checkpoint, the parameter and the
// mismatch. An enabled ema takes the
// checkpoint's weight average, or starts from its parameters when it has none (returns
// false then).
bool restore_state(const CheckpointState& state, const std::string& source, Backend& be, ParamStore& params,
                   HostMoments* moments, WeightAverage* ema = nullptr);

// The weights that evaluation and sampling use: the checkpoint's weight average when it
// has one (train.ema_decay), else its parameters. Returns which: "weight average" or
// "parameters".
const char* restore_inference_weights(const CheckpointState& state, const std::string& source, Backend& be,
                                      ParamStore& params);

}  // namespace elbo
