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
#include "elbo/nn/distributions.h"
#include "elbo/nn/graph.h"

namespace elbo {

class GraphVae : public VaeModel {
 public:
  // sample: the shape of one input, (1, C, H, W), or (1, D) for flat vectors;
  // classes > 0 for a conditional model.
  GraphVae(Shape sample, int latent, bool gaussian, int classes = 0);

  ParamStore& params() override { return store_; }
  int input_dim() const override { return int(sample_.row_size()); }
  int latent_dim() const override { return latent_; }
  int condition_dim() const override { return classes_; }
  void set_condition(const float* one_hot) override { condition_ = one_hot; }

  void forward(Backend& be, const float* x, int rows, const NoiseKey& noise) override;
  const float* recon_per_row() const override;
  const float* kl_per_row() const override;
  void backward(Backend& be, const float* x, int rows, float recon_weight, Weight kl_weight,
                const std::function<void(size_t)>& on_grads_ready) override;
  void log_importance_weights(Backend& be, float* logw, const float* x, int images, int k,
                              const NoiseKey& noise) override;
  void decode_mean(Backend& be, float* out, const float* z, int rows) override;
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
  bool gaussian_;
  int classes_;

 private:
  struct Program {
    std::unique_ptr<Graph> graph;
    Var in, out, recon, kl, y;
  };
  Var condition_input(Graph& g, int rows) const;
  void bind_condition(Program& p) const;
  void run_into(Backend& be, Program& p, const float* in, float* out);
  enum class Purpose { kTrain, kImportance, kDecode, kReconstruct, kEncode };
  Program& program(Backend& be, Purpose purpose, int rows, int k = 1);
  Shape data_shape(int rows) const;
  Var nll(Graph& g, Var out, Var x) const;
  Var mean_of(Graph& g, Var out) const;

  NoiseKey noise_;  // read by the sampling nodes at each forward
  const float* condition_ = nullptr;  // set_condition's rows
  std::map<std::tuple<Purpose, int, int>, Program> programs_;
  Program* train_ = nullptr;  // the training program of the last forward()
};

}  // namespace elbo
