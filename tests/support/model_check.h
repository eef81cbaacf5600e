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

// tc_extra_weight: beta-TCVAE's tc_beta - 1, the total correlation's weight beyond the KL's
// (read where the model reports tc_per_row()).
void expect_whole_model_gradient(Backend& be, VaeModel& model, const std::vector<float>& x, int rows,
                                 const std::string& what, NoiseKey key = NoiseKey{5, 1, 0, 0},
                                 float tc_extra_weight = 0.0f);

}  // namespace elbo
