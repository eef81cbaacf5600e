// The groups of a convolutional hierarchical VAE (NVAE, Vahdat & Kautz 2020; VDVAE, Child
// 2021), behind the interface of models/hvae_blocks.h. Group l works on maps of
// group_hidden[l] channels at 1/group_scale[l] of the image's size (scales top first, never
// growing downwards), its latent z_l is a map of latents[l] channels there.
//   bottom-up  encoder.<L-1>.stem (3x3 conv of the image), average pooling down to the
//              group's scale, encoder.<l>.proj (1x1, where the width changes),
//              encoder.<l>.cell<i> (model.group_depth residual cells) -> d_l;
//              encoder.<l>.q (3x3) -> q's (mu | logvar) maps (merge, and the top group)
//   top-down   h = decoder.<l>.z(z_l) (1x1) plus the state h from the group above,
//              decoder.<l>.cell<i>, nearest 2x upsampling to the next group's scale (the
//              image's after the bottom group), decoder.<l>.proj (1x1, where the width
//              changes); prior.<l+1> (3x3) reads that state, and the residual posterior's
//              encoder.<l+1>.q reads [d_{l+1} | state] (3x3).
//   decoder.out (3x3) -> the likelihood's C (or 2C) channels.
// Residual cells: activation (model.activation, swish in the configs) then 3x3 conv, twice,
// no normalisation (VDVAE's choice: the scaled init keeps deep stacks stable); each
// cell's last conv starts at 1/sqrt(cells of its tower) of PyTorch's init, so the towers
// start close to the identity. The prior heads start at zero (p(z_l | z_<l) = N(0, I) at
// init, VDVAE's zero-initialised prior branch), so the KL of a fresh model is that of q
// against N(0, I) in every group.
#include <cmath>
#include <optional>
#include <vector>

#include "elbo/error.h"
#include "elbo/models/hvae_blocks.h"
#include "elbo/models/vae_model.h"
#include "elbo/nn/conv2d.h"
#include "elbo/nn/distributions.h"
#include "elbo/nn/layers.h"
#include "elbo/nn/resample.h"
#include "elbo/nn/residual.h"

namespace elbo {
namespace {

// log2 of a power of two (>= 1); -1 otherwise.
int log2_exact(int v) {
  int k = 0;
  while (v > 1 && v % 2 == 0) {
    v /= 2;
    ++k;
  }
  return v == 1 ? k : -1;
}

class ConvBlocks final : public HvaeBlocks {
 public:
  ConvBlocks(ParamStore& store, const ModelConfig& config, Shape image, bool residual)
      : latents_(config.latents), width_(config.group_hidden), scale_(config.group_scale), image_(image) {
    const size_t L = latents_.size();
    ELBO_CHECK(image.h > 1 && image.w > 1, "model.group_type conv needs images (C x H x W), the data holds flat "
                                           "vectors of " << image.row_size() << " values");
    ELBO_CHECK(width_.size() == L, "model.group_hidden: one channel count per group of model.latents ("
                                       << L << " groups), got " << width_.size());
    ELBO_CHECK(scale_.size() == L, "model.group_scale: one scale per group of model.latents (" << L
                                                                                              << " groups), got "
                                                                                              << scale_.size());
    for (size_t l = 0; l < L; ++l) {
      const int s = scale_[l];
      ELBO_CHECK(log2_exact(s) >= 0, "model.group_scale[" << l << "] = " << s << ": a power of two (1, 2, 4, ..)");
      ELBO_CHECK(image.h % s == 0 && image.w % s == 0,
                 "model.group_scale[" << l << "] = " << s << ": images " << image.h << "x" << image.w
                                      << " do not divide into " << s << "x" << s << " blocks");
      ELBO_CHECK(l == 0 || s <= scale_[l - 1], "model.group_scale: scales go down from the top group (coarsest) to "
                                               "the bottom (finest), got "
                                                   << scale_[l - 1] << " above " << s);
    }
    const Activation act = parse_activation(config.activation);
    ResidualCellOptions cell;
    cell.act = act;
    cell.last_init_scale = 1.0f / std::sqrt(float(L) * float(config.group_depth));
    up_.resize(L);
    down_.resize(L);
    // Registered in forward order: the bottom-up tower from the data up, then the top-down.
    for (size_t l = L; l-- > 0;) {
      Group& gr = up_[l];
      const std::string name = "encoder." + std::to_string(l);
      if (l + 1 == L) gr.in.emplace(store, name + ".stem", image.c, width_[l], 3, 1, 1);
      else if (width_[l + 1] != width_[l]) gr.in.emplace(store, name + ".proj", width_[l + 1], width_[l], 1, 1, 0);
      for (int i = 0; i < config.group_depth; ++i)
        gr.cells.emplace_back(store, name + ".cell" + std::to_string(i), width_[l], cell);
      if (!residual || l == 0) gr.head.emplace(store, name + ".q", width_[l], 2 * latents_[l], 3, 1, 1);
    }
    WeightOptions zero;
    zero.init_scale = 0.0f;
    for (size_t l = 0; l < L; ++l) {
      Group& gr = down_[l];
      const std::string name = "decoder." + std::to_string(l);
      if (l > 0) {
        gr.prior.emplace(store, "prior." + std::to_string(l), width_[l], 2 * latents_[l], 3, 1, 1,
                         Activation::kIdentity, zero);
        if (residual)
          up_[l].head.emplace(store, "encoder." + std::to_string(l) + ".q", 2 * width_[l], 2 * latents_[l], 3, 1, 1);
      }
      gr.in.emplace(store, name + ".z", latents_[l], width_[l], 1, 1, 0);
      for (int i = 0; i < config.group_depth; ++i)
        gr.cells.emplace_back(store, name + ".cell" + std::to_string(i), width_[l], cell);
      if (l + 1 < L && width_[l + 1] != width_[l])
        gr.proj.emplace(store, name + ".proj", width_[l], width_[l + 1], 1, 1, 0);
    }
    out_.emplace(store, "decoder.out", width_[L - 1], parse_likelihood(config.likelihood, config.gaussian_sigma).params() * image.c, 3, 1,
                 1);
  }

  int latent_size(size_t l) const override { return latents_[l] * height(l) * wide(l); }
  Shape latent_shape(size_t l, int rows) const override {
    return Shape::images(rows, latents_[l], height(l), wide(l));
  }

  Var up(Graph& g, size_t l, Var below) const override {
    const Group& gr = up_[l];
    Var h = below;
    int from = 1;  // the scale of `below`
    if (l + 1 == up_.size()) {
      ELBO_CHECK(g.shape(below).h == image_.h && g.shape(below).w == image_.w,
                 "hvae conv groups: the input " << g.shape(below).str() << " is not a batch of images");
      h = (*gr.in)(g, below);
    } else {
      from = scale_[l + 1];
    }
    for (int k = log2_exact(scale_[l] / from); k > 0; --k) h = avg_pool2x(g, h);
    if (l + 1 < up_.size() && gr.in) h = (*gr.in)(g, h);
    for (const ResidualCell& c : gr.cells) h = c(g, h);
    return h;
  }

  Var posterior_stats(Graph& g, size_t l, Var d) const override { return as_rows(g, (*up_[l].head)(g, d)); }
  Var posterior_offsets(Graph& g, size_t l, Var d, Var h) const override {
    return as_rows(g, (*up_[l].head)(g, concat_channels(g, d, h)));
  }
  Var prior(Graph& g, size_t l, Var h) const override { return as_rows(g, (*down_[l].prior)(g, h)); }

  Var down(Graph& g, size_t l, Var h, Var z) const override {
    const Group& gr = down_[l];
    const Shape map = latent_shape(l, g.shape(z).n);
    Var t = (*gr.in)(g, g.shape(z) == map ? z : g.view(z, map));
    if (h.valid()) t = add(g, h, t);
    for (const ResidualCell& c : gr.cells) t = c(g, t);
    const int to = l + 1 < down_.size() ? scale_[l + 1] : 1;
    for (int k = log2_exact(scale_[l] / to); k > 0; --k) t = upsample2x(g, t);
    return gr.proj ? (*gr.proj)(g, t) : t;
  }

  Var out(Graph& g, Var h) const override { return as_rows(g, (*out_)(g, h)); }

 private:
  struct Group {
    std::optional<Conv2d> in;  // up: the stem or the width's 1x1 change; down: z's 1x1 conv
    std::vector<ResidualCell> cells;
    std::optional<Conv2d> head;   // up: the posterior head
    std::optional<Conv2d> prior;  // down: the prior head (l > 0)
    std::optional<Conv2d> proj;   // down: the width's change to the next group
  };
  int height(size_t l) const { return image_.h / scale_[l]; }
  int wide(size_t l) const { return image_.w / scale_[l]; }
  static Var as_rows(Graph& g, Var v) {
    const Shape s = g.shape(v);
    return g.view(v, Shape::rows(s.n, int(s.row_size())));
  }

  std::vector<int> latents_, width_, scale_;
  Shape image_;
  std::vector<Group> up_, down_;
  std::optional<Conv2d> out_;
};

}  // namespace

std::unique_ptr<HvaeBlocks> make_conv_blocks(ParamStore& store, const ModelConfig& config, Shape image, bool residual) {
  return std::make_unique<ConvBlocks>(store, config, image, residual);
}

}  // namespace elbo
