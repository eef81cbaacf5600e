// What every single-latent VAE of the family shares, written once over the graph:
// the training objective's terms (-log p(x|z) and KL(q(z|x) || N(0, I)) per row), the
// importance weights of the IWAE bound, decoding and reconstruction. A model only says
// how it encodes (x -> (mu | logvar)) and decodes (z -> the likelihood's parameters in
// the data's shape). Each computation is recorded once per row count as a Graph; its
// backward, its memory and the reducer's ready signal come from the graph.
#pragma once
#include <map>
#include <memory>
#include <tuple>

#include "elbo/models/vae_model.h"
#include "elbo/models/vae_program.h"
#include "elbo/nn/distributions.h"
#include "elbo/nn/graph.h"

namespace elbo {

class GraphVae : public VaeModel {
 public:
  // sample: the shape of one input, (1, C, H, W), or (1, D) for flat vectors;
  // classes > 0 for a conditional model; pseudo_inputs = K > 0 for the VampPrior
  // (Tomczak & Welling 2018): p(z) = (1/K) sum_k q(z | u_k) with K learned inputs u_k,
  // the parameter "prior.pseudo_inputs" (first in the store), instead of N(0, I).
  GraphVae(Shape sample, int latent, Likelihood likelihood, int classes = 0, int pseudo_inputs = 0);

  ParamStore& params() override { return store_; }
  int input_dim() const override { return int(sample_.row_size()); }
  int latent_dim() const override { return latent_; }
  int condition_dim() const override { return classes_; }
  void set_condition(const float* one_hot) override { condition_ = one_hot; }

  void set_objective(const Objective& objective) override;
  void set_kl_dim_gates(const float* gates) override { kl_dim_gates_ = gates; }
  void set_log_ratio_weight(const float* weight) override { log_ratio_weight_ = weight; }
  void forward(Backend& be, const float* x, int rows, const NoiseKey& noise, Pass pass = Pass::kTrain) override;
  size_t training_activation_bytes(Backend& be, int rows) override;
  const float* recon_per_row() const override;
  const float* kl_per_row() const override;
  const float* log_mean_weight_per_row() const override;
  const float* trained_log_mean_weight_per_row() const override;
  const float* tc_per_row() const override;
  const float* posterior_stats() const override;
  void backward(Backend& be, const float* x, int rows, float recon_weight, Weight kl_weight,
                const std::function<void(size_t)>& on_grads_ready) override;
  void log_importance_weights(Backend& be, float* logw, const float* x, int images, int k,
                              const NoiseKey& noise) override;
  void decode_mean(Backend& be, float* out, const float* z, int rows) override;
  void sample_prior(Backend& be, float* z, int rows, uint64_t seed) override;
  void reconstruct(Backend& be, float* out, const float* x, int rows) override;
  void posterior_mean(Backend& be, float* mu, const float* x, int rows) override;

 protected:
  // x: rows in the data's shape -> rows x 2*latent, (mu | logvar). y: the rows' one-hot
  // classes (rows x classes) for a conditional model, else invalid.
  virtual Var encode(Graph& g, Var x, Var y) const = 0;
  // z: rows x latent -> the likelihood's parameters, (rows, C', H, W) with C' = C for
  // Bernoulli logits or 2C for Gaussian (mean | logvar), or (rows, D') for flat data.
  virtual Var decode(Graph& g, Var z, Var y) const = 0;

  ParamStore store_;
  Shape sample_;
  int latent_;
  Likelihood likelihood_;
  int classes_;
  int pseudo_inputs_;
  int pseudo_slice_ = -1;

 private:
  struct Program : VaeProgram {
    Var y;   // a conditional model's one-hot classes
    Var tc;  // beta-TCVAE's training pass: the total correlation per image
  };
  Var condition_input(Graph& g, int rows) const;
  void bind_condition(Program& p) const;
  void run_into(Backend& be, Program& p, const float* in, float* out);
  enum class Purpose { kElbo, kIwae, kImportance, kDecode, kReconstruct, kEncode, kPriorComponents };
  Program& program(Backend& be, Purpose purpose, int rows, int k = 1, bool gradients = false);
  Program& training_program(Backend& be, int rows);  // the objective's, with gradients
  // Records k samples per input of p.in (kIwae, kImportance): p.recon gets their
  // -log p(x|z); returns their log p(z) - log q(z|x).
  Var record_log_ratio(Graph& g, Program& p, int rows, int k);
  Shape data_shape(int rows) const;
  Var nll(Graph& g, Var out, Var x) const;
  // log p(z) of each sample under the VampPrior: the log-mean of its densities under the
  // posteriors of the K pseudo-inputs, encoded in this graph.
  Var vamp_log_prior(Graph& g, Var z) const;
  // Per row: the estimate log q(z|x) - log p(z) of KL(q(z|x) || p(z)) under the VampPrior
  // (no closed form), for the sample s of q with statistics stats.
  Var vamp_kl(Graph& g, const GaussianSample& s, Var stats) const;
  Var mean_of(Graph& g, Var out) const;

  NoiseKey noise_;  // read by the sampling nodes at each forward
  const float* condition_ = nullptr;  // set_condition's rows
  const float* kl_dim_gates_ = nullptr;  // read by the KL node at each backward
  const float* log_ratio_weight_ = nullptr;  // the iwae warm-up's beta, read at each forward
  Objective objective_;
  std::map<std::tuple<Purpose, int, int, bool>, Program> programs_;  // (purpose, rows, k, gradients)
  Program* train_ = nullptr;  // the program of the last forward()
  bool train_pass_ = false;   // whether that forward() was a kTrain pass
};

}  // namespace elbo
