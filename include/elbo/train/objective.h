// The training objective, one concept in one place: which bound is minimised, with how
// many importance samples, and how the KL term is weighted over time. The model records
// the bound's terms in its training graph (models/graph_vae.h), the step program seeds
// them and applies free bits (train/step_program.h), the trainer logs them; all of them
// read this one description, made from the config's train.* keys.
//
//   elbo:  -log p(x|z) + w_t * KL(q(z|x) || p(z)), one sample of z per image; w_t is
//          train.beta (beta-VAE, Higgins et al. 2017) after a linear warm-up over
//          train.kl_warmup_steps, or cyclical (Fu et al. 2019): each train.kl_cycle_steps
//          steps the weight ramps from 0 to beta over the first train.kl_cycle_ramp share
//          of the cycle and stays at beta for the rest. Free bits (Kingma et al. 2016):
//          with train.free_bits = lambda > 0, a latent dimension whose KL, averaged over
//          the global batch, is below lambda nats contributes lambda (no gradient).
//   iwae:  -log (1/k) sum_t p(x, z_t) / q(z_t|x), k = train.iw_samples samples per image
//          (Burda et al. 2016); its gradient weights each sample by its normalised
//          importance weight. k = 1 is the ELBO.
#pragma once
#include <cstdint>
#include <string>

#include "elbo/config.h"

namespace elbo {

struct Objective {
  enum class Kind { kElbo, kIwae };
  Kind kind = Kind::kElbo;
  int samples = 1;               // importance samples per image (iwae)
  float beta = 1.0f;
  int64_t kl_warmup_steps = 0;
  int64_t kl_cycle_steps = 0;    // 0: no cyclical schedule
  float kl_cycle_ramp = 0.5f;
  float free_bits = 0.0f;        // nats per latent dimension; 0: off

  // From train.*, as validated by load_config (which rejects contradicting keys: a KL
  // schedule or free bits with the iwae objective, which has no separate KL term).
  static Objective from_config(const TrainConfig& train);
  // The IWAE bound with k samples per image.
  static Objective iwae_bound(int k) {
    Objective o;
    o.kind = Kind::kIwae;
    o.samples = k;
    return o;
  }

  bool iwae() const { return kind == Kind::kIwae; }
  // The weight of the KL term at optimiser step `step` (from 0).
  float kl_weight(int64_t step) const;
  // "iwae (k = 5)", "elbo (beta 4, free bits 0.5 nats/dim)": for logs.
  std::string describe() const;
};

}  // namespace elbo
