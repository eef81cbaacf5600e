// The contract every model of the family implements (MLP VAE now; conv, conditional
// and hierarchical top-down VAEs later). A model owns its parameters (one flat
// ParamStore) and its activation buffers; the trainer owns the data, the objective
// weights, the reducer and the optimiser.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/nn/param_store.h"
#include "elbo/tensor.h"
#include "elbo/train/objective.h"

namespace elbo {

class VaeModel {
 public:
  virtual ~VaeModel() = default;
  virtual std::string type() const = 0;
  virtual ParamStore& params() = 0;
  virtual int input_dim() const = 0;
  virtual int latent_dim() const = 0;  // dimension of the top latent, the one sampled from the prior

  // Conditional models (model.conditional): the number of classes; 0 otherwise. Before
  // each forward, log_importance_weights, decode_mean or reconstruct of a conditional
  // model, set_condition gives the one-hot class of each of its input rows (rows x
  // condition_dim() floats in device memory, one row per image), read by that call.
  virtual int condition_dim() const { return 0; }
  virtual void set_condition(const float* one_hot) { (void)one_hot; }

  // The objective forward(kTrain) records (train/objective.h); the ELBO until set.
  virtual void set_objective(const Objective& objective) = 0;
  // Free bits: before backward(), a device array of latent_dim() gates (1 or 0) that scale
  // each latent dimension's KL gradient; null: every dimension counts.
  virtual void set_kl_dim_gates(const float* gates) = 0;
  // Hierarchical models: before backward(), a device array of kl_groups() weights that
  // replace kl_weight for each group's KL (KL balancing, free bits per group); null: every
  // group takes kl_weight. Single-group models have nothing to weigh.
  virtual void set_kl_group_weights(const float* weights) { (void)weights; }
  // The iwae objective's warm-up (Objective::warms_up_log_ratio, nn/importance_bound.h):
  // before forward(), a device scalar beta that weighs log p(z) - log q(z|x) in the
  // trained log-weights, read by every forward of the training pass; null: 1.
  virtual void set_log_ratio_weight(const float* weight) = 0;

  // kTrain: the objective's terms for `rows` inputs (k samples each for iwae), ready for
  // backward(). kElbo: the single-sample ELBO's terms, whatever the objective (evaluation,
  // validation). Noise row r uses serial noise.row_serial0 + r (r * k + t for sample t).
  // Fills, as device buffers of `rows` values: recon_per_row() = -log p(x|z) and
  // kl_per_row() = KL(q(z|x) || p(z)) (iwae: their means over the k samples, with the KL
  // estimated by log q(z|x) - log p(z)), and for iwae log_mean_weight_per_row() =
  // log (1/k) sum_t w_t, minus the IWAE bound (null otherwise).
  enum class Pass { kTrain, kElbo };
  virtual void forward(Backend& be, const float* x, int rows, const NoiseKey& noise, Pass pass = Pass::kTrain) = 0;
  // Gradient checkpointing (train.recompute): layers that offer it (residual cells) keep
  // only their inputs and outputs for backward and recompute the rest there. Before the
  // first forward; models without such layers ignore it.
  virtual void set_recompute(bool on) { (void)on; }
  // Records and plans the training pass for `rows` inputs (as the first forward(kTrain)
  // would) and returns the bytes of its activations and their gradients: the graph's
  // arena, which a step never grows (the memory a batch size costs per rank).
  virtual size_t training_activation_bytes(Backend& be, int rows) = 0;
  virtual const float* recon_per_row() const = 0;
  virtual const float* kl_per_row() const = 0;
  virtual const float* log_mean_weight_per_row() const = 0;
  // iwae: the per-row term backward() differentiates: log_mean_weight_per_row() itself, or
  // with the warm-up its form with beta-weighted log-weights (null otherwise).
  virtual const float* trained_log_mean_weight_per_row() const = 0;
  // beta-TCVAE's training pass (Objective::total_correlation): the estimated total
  // correlation of q(z) at each row's sample; null otherwise.
  virtual const float* tc_per_row() const { return nullptr; }
  // The posterior statistics (mu | logvar) of each input of the last forward(),
  // rows x 2*latent_dim(): KL per latent dimension, free bits.
  virtual const float* posterior_stats() const = 0;
  // Hierarchical models: the number of stochastic groups (1 for single-latent models) and,
  // after a forward() of the ELBO, group g's KL per row (rows values, g = 0 the top group);
  // the groups' KLs add up to kl_per_row(). Null where the pass measured only the total
  // (the iwae objective's training pass).
  virtual int kl_groups() const { return 1; }
  virtual const float* kl_group_per_row(int group) const {
    (void)group;
    return log_mean_weight_per_row() ? nullptr : kl_per_row();
  }

  // Accumulates into params().grads() the gradient of the last forward(kTrain)'s objective,
  //   elbo: sum_r recon_weight * recon[r] + kl_weight * kl[r]   (kl_weight may be a device
  //         scalar: the KL warm-up of a captured step)
  //   iwae: -sum_r recon_weight * trained_log_mean_weight[r]    (kl_weight is not used)
  // After each layer, on_grads_ready(offset) says that every gradient at flat index >=
  // offset is final (the reducer starts those buckets).
  virtual void backward(Backend& be, const float* x, int rows, float recon_weight, Weight kl_weight,
                        const std::function<void(size_t)>& on_grads_ready) = 0;

  // Importance weights for `images` inputs with `k` samples each:
  //   logw[i*k + t] = log p(x_i | z_it) + log p(z_it) - log q(z_it | x_i),
  // sample (i, t) drawing noise serial noise.row_serial0 + i*k + t.
  virtual void log_importance_weights(Backend& be, float* logw, const float* x, int images, int k,
                                      const NoiseKey& noise) = 0;

  // rows draws of the top latent from the prior p(z), into host memory (rows x latent_dim()):
  // row r uses the counter-RNG draws (seed, kRngSample, r, ...) so grids are reproducible.
  // Default N(0, I); the VampPrior draws a component, then z from it.
  // Default N(0, T^2 I) for T = sample_temperature(0); the VampPrior draws a component,
  // then z from it with its sigma times T.
  virtual void sample_prior(Backend& be, float* z, int rows, uint64_t seed);
  // Sampling temperatures (`elbo sample --temperature`): every prior draw has its standard
  // deviation times T_l of its group l (top first), as NVAE and VDVAE show samples at
  // T < 1; one value applies to every group. Positive and finite, 1 or kl_groups() values
  // (an error names the count otherwise). Default 1: the prior itself. sample_prior reads
  // the top group's; a hierarchical model's decode_mean and reconstruct_top_groups the others'.
  virtual void set_sample_temperatures(const std::vector<float>& temperatures);
  float sample_temperature(int group) const;
  // Mean of p(x|z) in data space for latent rows z (rows x latent_dim()); out is rows x input_dim().
  virtual void decode_mean(Backend& be, float* out, const float* z, int rows) = 0;
  // The posterior mean E_q[z|x] of each input (rows x latent_dim()): active units,
  // encodings.
  virtual void posterior_mean(Backend& be, float* mu, const float* x, int rows) = 0;
  // decode_mean at the posterior mean of each input: the reconstruction shown to users.
  virtual void reconstruct(Backend& be, float* out, const float* x, int rows) = 0;

  // Hierarchical models (`elbo reconstruct --top-groups K`): E[p(x|z)] with groups
  // 0..groups-1 at their posterior means given x and the groups above, the others drawn
  // from their priors given those (at the sampling temperatures): how much of the image the
  // top groups hold (NVAE's and VDVAE's figure). groups = kl_groups() is reconstruct().
  // Single-latent models refuse (an error that says so).
  virtual void reconstruct_top_groups(Backend& be, float* out, const float* x, int rows, int groups);
  // Each group's posterior mean E_q[z_l | x] (the groups above at their means), group after
  // group in a row: rows x sum_l group_dim(l) values (active units per group). Default:
  // the single group's posterior_mean. group_dim(l): group l's latent dimensions (also what
  // KL balancing divides each group's KL by).
  virtual int group_dim(int group) const {
    (void)group;
    return latent_dim();
  }
  virtual void group_posterior_means(Backend& be, float* mu, const float* x, int rows) {
    posterior_mean(be, mu, x, rows);
  }

 protected:
  std::vector<float> temperatures_ = {1.0f};  // set_sample_temperatures'
};

// Builds the model named by config.type for inputs of input_dim values; parameters are
// allocated on the backend and initialised from seed.
// `sample` is the shape of one input, (1, C, H, W); models of flat vectors read C*H*W.
std::unique_ptr<VaeModel> make_model(const ModelConfig& config, Shape sample, Backend& backend, uint64_t seed);
// The same for flat inputs of input_dim values (a conv model refuses them).
std::unique_ptr<VaeModel> make_model(const ModelConfig& config, int input_dim, Backend& backend, uint64_t seed);

Activation parse_activation(const std::string& name);

}  // namespace elbo
