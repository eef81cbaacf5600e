// A hierarchical top-down VAE with L stochastic groups of diagonal Gaussian latents
// (Ladder VAE, Sønderby et al. 2016; the structure NVAE and VDVAE scale up): a bottom-up
// (inference) tower turns x into features for every group; a top-down (generative) tower
// goes from the top latent z_0 ~ N(0, I) through each group's prior p(z_l | z_<l) down to
// p(x | z_{L-1}). The top-down tower is shared: the posterior of group l,
// q(z_l | x, z_<l), reads the prior that the same tower computes for it, either
//   merge:    Ladder VAE's precision-weighted merge of the bottom-up estimate and the
//             prior (nn/gaussian_merge.h), or
//   residual: NVAE's residual normal, q's (mu | logvar) = p's + offsets predicted from the
//             bottom-up and top-down features together.
// Groups are numbered top-down (0 = top), as in model.latents. This class owns the
// hierarchy; the groups' layers are a block family (models/hvae_blocks.h, model.group_type):
// MLPs (model.group_hidden widths, model.group_depth layers; the IWAE paper's two-stochastic-
// layer model is configs/mnist_hvae_iwae2.yaml) or residual conv cells at several
// resolutions (configs/mnist_hvae_conv.yaml). The ELBO's KL is the sum of the groups'
// analytic KLs (the top against N(0, I), the others against their priors, gradients into
// both); importance weights add log p(z_l | z_<l) - log q(z_l | x, z_<l) of every group.
// Every prior and posterior the towers produce passes through a bound on its variance
// (nn/variance_bound.h: model.logvar_clamp, model.sigma_floor). docs/models.md ## hvae
// draws the structure.
#pragma once
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "elbo/models/hvae_blocks.h"
#include "elbo/models/vae_model.h"
#include "elbo/models/vae_program.h"
#include "elbo/nn/distributions.h"
#include "elbo/nn/graph.h"
#include "elbo/nn/variance_bound.h"

namespace elbo {

class Hvae final : public VaeModel {
 public:
  // sample: the shape of one input, (1, C, H, W) (conv groups need images) or (1, D).
  // seed: the Philox key of the prior samples of decode_mean and reconstruct_top_groups.
  Hvae(const ModelConfig& config, Shape sample, uint64_t seed);
  std::string type() const override { return "hvae"; }
  ParamStore& params() override { return store_; }
  int input_dim() const override { return dim_; }
  int latent_dim() const override { return latents_[0]; }  // the top group (C*h*w for a map)
  int kl_groups() const override { return int(latents_.size()); }
  const float* kl_group_per_row(int group) const override;

  void set_objective(const Objective& objective) override;
  // Free bits gate the top group's dimensions (posterior_stats() is the top group's).
  void set_kl_dim_gates(const float* gates) override { kl_dim_gates_ = gates; }
  void set_kl_group_weights(const float* weights) override { kl_group_weights_ = weights; }
  void set_log_ratio_weight(const float* weight) override { log_ratio_weight_ = weight; }
  void forward(Backend& be, const float* x, int rows, const NoiseKey& noise, Pass pass = Pass::kTrain) override;
  size_t training_activation_bytes(Backend& be, int rows) override;
  void set_recompute(bool on) override { recompute_ = on; }
  const float* recon_per_row() const override;
  const float* kl_per_row() const override;
  const float* log_mean_weight_per_row() const override;
  const float* trained_log_mean_weight_per_row() const override;
  const float* posterior_stats() const override;
  void backward(Backend& be, const float* x, int rows, float recon_weight, Weight kl_weight,
                const std::function<void(size_t)>& on_grads_ready) override;
  void log_importance_weights(Backend& be, float* logw, const float* x, int images, int k,
                              const NoiseKey& noise) override;
  // z: the top group; every lower group is drawn from its prior given the groups above.
  void decode_mean(Backend& be, float* out, const float* z, int rows) override;
  void posterior_mean(Backend& be, float* mu, const float* x, int rows) override;
  // Every group at its posterior mean given the means above.
  void reconstruct(Backend& be, float* out, const float* x, int rows) override;
  void set_sample_temperatures(const std::vector<float>& temperatures) override;
  void reconstruct_top_groups(Backend& be, float* out, const float* x, int rows, int groups) override;
  int group_dim(int group) const override { return latents_.at(size_t(group)); }
  void group_posterior_means(Backend& be, float* mu, const float* x, int rows) override;

 private:
  // What the posterior of each group reads from the bottom-up pass (rows x ...).
  using BottomUp = std::vector<Var>;
  // One pass down the hierarchy: each group's q (of the posterior's groups) and p (invalid
  // for the top), its sample, its z, and the likelihood's parameters at the bottom.
  struct TopDown {
    std::vector<Var> q, p, z;
    std::vector<GaussianSample> sample;
    Var out;
  };
  enum class Purpose { kElbo, kIwae, kImportance, kDecode, kReconstruct, kEncode, kTopGroups, kGroupMeans };
  struct Program : VaeProgram {
    std::vector<Var> group_kl;  // ELBO programs: each group's KL per row
  };

  Shape input_shape(int rows) const;
  BottomUp bottom_up(Graph& g, Var x) const;
  // Groups 0..posterior_groups-1 from the posterior, sampled (or at their means with
  // means_only); the others drawn from their priors at the sampling temperatures.
  TopDown top_down(Graph& g, const BottomUp& bu, size_t posterior_groups, bool means_only);
  // A draw of group l's prior p (N(0, I) for the top group: p invalid) at its temperature.
  Var prior_sample(Graph& g, size_t l, Var p, int rows);
  Var nll(Graph& g, Var out, Var x) const;
  Var mean_of(Graph& g, Var out) const;
  Program& program(Backend& be, Purpose purpose, int rows, int k = 1, bool gradients = false);
  Program& training_program(Backend& be, int rows);  // the objective's, with gradients
  void record_elbo(Graph& g, Program& p, int rows);
  // k samples per input (kIwae, kImportance): p.recon gets their -log p(x|z); returns
  // their sum over the groups of log p(z_l | z_<l) - log q(z_l | x, z_<l).
  Var record_log_ratio(Graph& g, Program& p, int rows, int k);
  void set_noise(const NoiseKey& noise);
  // The noise of the prior draws of sampling programs: the model's seed, fresh serials.
  void set_sampling_noise(int rows);

  ParamStore store_;
  int dim_;
  Shape image_;  // conv groups: the shape of one image; n = 0 for MLP groups
  Likelihood likelihood_;
  bool residual_;
  // model.logvar_clamp and model.sigma_floor, on every prior and posterior the towers make
  VarianceBound bound_;
  bool recompute_ = false;  // train.recompute: the residual cells as recomputation segments
  std::vector<int> latents_;  // each group's latent size, top first
  std::unique_ptr<HvaeBlocks> blocks_;
  // Per group, the key its sampling node reads: the forward's key with the element offset
  // moved past the groups above, so every group of a sample draws its own normals.
  std::vector<NoiseKey> noise_;
  uint64_t seed_;
  uint64_t decoded_rows_ = 0;  // serials used by decode_mean's prior samples so far
  const float* kl_dim_gates_ = nullptr;
  const float* kl_group_weights_ = nullptr;  // device, one per group; null: kl_weight for all
  const float* log_ratio_weight_ = nullptr;  // the iwae warm-up's beta, read at each forward
  Objective objective_;
  std::map<std::tuple<Purpose, int, int, bool>, Program> programs_;
  Program* train_ = nullptr;
  bool train_pass_ = false;
};

}  // namespace elbo
