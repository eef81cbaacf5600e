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
//          the global batch, is below lambda nats contributes lambda (no gradient); with
//          train.free_bits_per: group (hvae) the floor applies to each group's KL.
//          KL balancing (train.kl_balance, NVAE, Vahdat & Kautz 2020): while the KL weight
//          ramps up, group l's KL is weighted by c_l = a_l / mean_j a_j, a_l = (its global
//          batch-mean KL + 0.01) / its number of latent dimensions, so that groups with
//          little information are pushed less towards the prior (kernels/math.h,
//          kl_group_weight); at the full weight every group counts alike.
//          beta-TCVAE (train.tc_beta, Chen et al. 2018): the KL term becomes
//          w_t * (KL + (tc_beta - 1) * TC), TC the total correlation of the aggregate
//          posterior estimated on blocks of train.tc_batch images (nn/distributions.h,
//          total_correlation); with beta = 1 that is Chen et al.'s MI + tc_beta TC + dim-KL.
//   iwae:  -log (1/k) sum_t p(x, z_t) / q(z_t|x), k = train.iw_samples samples per image
//          (Burda et al. 2016); its gradient weights each sample by its normalised
//          importance weight. k = 1 is the ELBO. With train.kl_warmup_steps the
//          log-weights' log p(z) - log q(z|x) is weighted by the same ramp from 0 to 1
//          (nn/importance_bound.h): the IWAE's form of the KL warm-up.
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
  float free_bits = 0.0f;        // nats per latent dimension (or per group); 0: off
  bool free_bits_per_group = false;
  bool kl_balance = false;
  // beta-TCVAE (Chen et al. 2018): the KL term's total correlation weighs tc_beta instead
  // of 1, estimated over blocks of tc_batch images of each rank's batch (0: the whole batch).
  float tc_beta = 1.0f;
  int tc_batch = 0;

  // From train.*, as validated by load_config (which rejects contradicting keys: beta,
  // cycles or free bits with the iwae objective, which has no separate KL term).
  static Objective from_config(const TrainConfig& train);
  // The IWAE bound with k samples per image.
  static Objective iwae_bound(int k) {
    Objective o;
    o.kind = Kind::kIwae;
    o.samples = k;
    return o;
  }

  bool iwae() const { return kind == Kind::kIwae; }
  // iwae with a warm-up: kl_weight(step) weighs log p(z) - log q(z|x) in the log-weights.
  bool warms_up_log_ratio() const { return iwae() && kl_warmup_steps > 0; }
  // The weight of the KL term at optimiser step `step` (from 0).
  float kl_weight(int64_t step) const;
  // Whether KL balancing acts at step `step`: on, and the KL weight still below beta.
  bool kl_balance_at(int64_t step) const { return kl_balance && kl_weight(step) < beta; }
  // Whether the groups' KL weights need the global batch's KL of each group each step.
  bool weighs_groups() const { return kl_balance || (free_bits > 0.0f && free_bits_per_group); }
  bool total_correlation() const { return !iwae() && tc_beta != 1.0f; }
  // The estimate's block for a rank's batch of `rows` images.
  int tc_block(int rows) const { return tc_batch > 0 ? tc_batch : rows; }
  // "iwae (k = 5)", "elbo (beta 4, free bits 0.5 nats/dim)": for logs.
  std::string describe() const;
};

}  // namespace elbo
