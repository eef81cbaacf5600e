// The finite-difference check of a whole model's training objective, shared by the model
// tests: the objective of the last forward(kTrain) (the ELBO with recon weight 1/B and KL
// weight 0.8/B, or, for a model trained on the iwae objective, minus the bound's
// log-mean-weights / B) against every parameter, with the noise fixed by its key; the
// reducer's "gradients final from offset" signal must reach 0, moving only towards the
// start of the buffer.
#pragma once
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/models/vae_model.h"

namespace elbo {

void expect_whole_model_gradient(Backend& be, VaeModel& model, const std::vector<float>& x, int rows,
                                 const std::string& what, NoiseKey key = NoiseKey{5, 1, 0, 0});

}  // namespace elbo
