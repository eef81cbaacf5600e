// The Ladder VAE's groups as MLPs (models/hvae_blocks.h): per group a bottom-up block
// (encoder.l.0 .., model.group_depth Linear + activation layers of width group_hidden[l]),
// a posterior head (encoder.l.q), a prior head (prior.l, reading the block of the group
// above) and a top-down block (decoder.l.0 .., reading z_l alone: the Ladder VAE carries
// no state past the latent); decoder.out after the bottom group. Names, shapes and
// registration order are those of the checkpoints written before the block families.
#include <optional>
#include <vector>

#include "elbo/error.h"
#include "elbo/models/hvae_blocks.h"
#include "elbo/models/vae_model.h"
#include "elbo/nn/distributions.h"
#include "elbo/nn/layers.h"
#include "elbo/nn/linear.h"

namespace elbo {
namespace {

class MlpBlocks final : public HvaeBlocks {
 public:
  MlpBlocks(ParamStore& store, const ModelConfig& config, int input_dim, bool residual) : latents_(config.latents) {
    const size_t L = latents_.size();
    ELBO_CHECK(config.group_hidden.size() == L, "model.group_hidden: one width per group of model.latents ("
                                                    << L << " groups), got " << config.group_hidden.size());
    const Activation act = parse_activation(config.activation);
    const std::vector<int>& width = config.group_hidden;
    groups_.resize(L);
    for (size_t l = L; l-- > 0;) {
      Group& gr = groups_[l];
      const std::string name = "encoder." + std::to_string(l);
      int in = l + 1 == L ? input_dim : width[l + 1];
      for (int i = 0; i < config.group_depth; ++i) {
        gr.up.emplace_back(store, name + "." + std::to_string(i), in, width[l], act);
        in = width[l];
      }
      // The residual posterior's offsets read the top-down features too (from the block of
      // the group above); the top group's prior is fixed, so its head reads only its own.
      if (!residual || l == 0) gr.q.emplace(store, name + ".q", width[l], 2 * latents_[l]);
    }
    for (size_t l = 0; l < L; ++l) {
      Group& gr = groups_[l];
      if (l > 0) {
        gr.p.emplace(store, "prior." + std::to_string(l), width[l - 1], 2 * latents_[l]);
        if (residual)
          gr.q.emplace(store, "encoder." + std::to_string(l) + ".q", width[l] + width[l - 1], 2 * latents_[l]);
      }
      int in = latents_[l];
      for (int i = 0; i < config.group_depth; ++i) {
        gr.down.emplace_back(store, "decoder." + std::to_string(l) + "." + std::to_string(i), in, width[l], act);
        in = width[l];
      }
    }
    out_.emplace(store, "decoder.out", width[L - 1], parse_likelihood(config.likelihood, config.gaussian_sigma).params() * input_dim);
  }

  int latent_size(size_t l) const override { return latents_[l]; }
  Var up(Graph& g, size_t l, Var below) const override { return block(g, groups_[l].up, below); }
  Var posterior_stats(Graph& g, size_t l, Var d) const override { return (*groups_[l].q)(g, d); }
  Var posterior_offsets(Graph& g, size_t l, Var d, Var h) const override {
    return (*groups_[l].q)(g, concat_columns(g, d, h));
  }
  Var prior(Graph& g, size_t l, Var h) const override { return (*groups_[l].p)(g, h); }
  Var down(Graph& g, size_t l, Var h, Var z) const override {
    (void)h;  // the Ladder VAE's top-down block reads only the latent
    return block(g, groups_[l].down, z);
  }
  Var out(Graph& g, Var h) const override { return (*out_)(g, h); }

 private:
  struct Group {
    std::vector<Linear> up;    // bottom-up block: x or the group below's features -> width
    std::optional<Linear> q;   // the posterior head: bottom-up stats (merge, top), or residual offsets
    std::vector<Linear> down;  // top-down block reading z_l
    std::optional<Linear> p;   // the prior head p(z_l | z_<l) from the group above's block (l > 0)
  };
  static Var block(Graph& g, const std::vector<Linear>& layers, Var h) {
    for (const Linear& layer : layers) h = layer(g, h);
    return h;
  }

  std::vector<int> latents_;
  std::vector<Group> groups_;
  std::optional<Linear> out_;
};

}  // namespace

std::unique_ptr<HvaeBlocks> make_mlp_blocks(ParamStore& store, const ModelConfig& config, int input_dim, bool residual) {
  return std::make_unique<MlpBlocks>(store, config, input_dim, residual);
}

}  // namespace elbo
