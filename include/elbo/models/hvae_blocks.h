// The layers of a hierarchical VAE's groups, apart from the hierarchy itself (models/hvae.h
// owns the bottom-up and top-down passes, the posteriors, KLs, importance weights, noise
// and programs; a block family owns only how features are computed). Two families:
//   MLP  (Ladder VAE): Linear blocks of model.group_hidden widths;
//   conv (NVAE / VDVAE): residual cells (nn/residual.h) on feature maps at the group's
//        resolution (model.group_scale), average pooling going up, nearest upsampling
//        going down, a top-down state carried from group to group.
// Everything the hierarchy sees is a row per image: latents are rows of latent_size(l)
// values (a conv group's C x h x w map, flattened channel by channel), statistics rows of
// (mu | logvar); an NCHW tensor of 2C channels is exactly that row (mu channels first), so
// the flat Gaussian ops serve both families through views, without copies.
#pragma once
#include <memory>

#include "elbo/config.h"
#include "elbo/nn/graph.h"
#include "elbo/nn/param_store.h"

namespace elbo {

class HvaeBlocks {
 public:
  virtual ~HvaeBlocks() = default;
  // The number of values of group l's latent (top group l = 0), and the shape of `rows`
  // of them that the blocks read (rows, or maps: a graph input cannot be viewed).
  virtual int latent_size(size_t l) const = 0;
  virtual Shape latent_shape(size_t l, int rows) const { return Shape::rows(rows, latent_size(l)); }
  // Bottom-up features d_l of group l from d_{l+1}, or from x (rows) for the bottom group.
  virtual Var up(Graph& g, size_t l, Var below) const = 0;
  // Rows of (mu | logvar) from d_l: q itself for the top group, the bottom-up estimate
  // that the merge posterior combines with the prior.
  virtual Var posterior_stats(Graph& g, size_t l, Var d) const = 0;
  // The residual posterior's offsets of group l > 0 from d_l and the top-down features h.
  virtual Var posterior_offsets(Graph& g, size_t l, Var d, Var h) const = 0;
  // p(z_l | z_<l) as rows of (mu | logvar) from the top-down features h (l > 0).
  virtual Var prior(Graph& g, size_t l, Var h) const = 0;
  // The top-down features after group l: from its latent z (rows) and the features h that
  // the group above passed down (invalid for the top group). They feed the prior of group
  // l + 1, or out() after the bottom group.
  virtual Var down(Graph& g, size_t l, Var h, Var z) const = 0;
  // The likelihood's parameters as rows (D logits, or 2D: mean | logvar).
  virtual Var out(Graph& g, Var h) const = 0;
};

// Registers the blocks' parameters in the store, in forward order (the bottom-up tower
// from the data up, then the top-down tower from the top down). residual: the posterior
// form (model.posterior), which decides the posterior heads' inputs.
std::unique_ptr<HvaeBlocks> make_mlp_blocks(ParamStore& store, const ModelConfig& config, int input_dim, bool residual);
// image: (1, C, H, W); H and W divisible by every group's model.group_scale.
std::unique_ptr<HvaeBlocks> make_conv_blocks(ParamStore& store, const ModelConfig& config, Shape image, bool residual);

}  // namespace elbo
