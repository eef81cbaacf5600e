#include "elbo/models/conv_vae.h"

#include "elbo/error.h"
#include "elbo/nn/layers.h"

namespace elbo {

ConvVae::ConvVae(const ModelConfig& config, Shape image)
    : GraphVae(image, config.latent, parse_likelihood(config.likelihood, config.gaussian_sigma), config.conditional ? config.classes : 0,
               config.prior == "vamp" ? config.pseudo_inputs : 0),
      act_(parse_activation(config.activation)) {
  ELBO_CHECK(image.h > 1 && image.w > 1,
             "model.type conv_vae needs images (C x H x W), the data holds flat vectors of " << image.row_size());
  ELBO_CHECK(!config.channels.empty() && config.channels.size() == config.strides.size(),
             "model.channels and model.strides: one stride per convolution, got " << config.channels.size()
                                                                                  << " channels and "
                                                                                  << config.strides.size()
                                                                                  << " strides");
  int c = image.c, h = image.h, w = image.w;
  for (size_t i = 0; i < config.channels.size(); ++i) {
    const int s = config.strides[i];
    ELBO_CHECK(s == 1 || (h % 2 == 0 && w % 2 == 0),
               "model.strides[" << i << "] = 2: the " << h << "x" << w << " feature map of images " << image.h << "x"
                                << image.w << " cannot be halved exactly (conv_vae needs H and W divisible by 2 for "
                                                 "every stride-2 layer)");
    down_.emplace_back(store_, "encoder.conv" + std::to_string(i), c, config.channels[i], s == 2 ? 4 : 3, s, 1, act_);
    c = config.channels[i];
    h /= s;
    w /= s;
  }
  bottleneck_ = Shape::images(1, c, h, w);
  const int flat = c * h * w;
  fcs_.emplace_back(store_, "encoder.fc", flat + classes_, 2 * latent_);
  fcs_.emplace_back(store_, "decoder.fc", latent_ + classes_, flat, act_);
  // The decoder mirrors the encoder: layer i maps channels[i] -> channels[i-1] (the
  // first conv's own width for i = 0), undoing stride i.
  for (size_t i = config.channels.size(); i-- > 0;) {
    const int from = config.channels[i], to = config.channels[i == 0 ? 0 : i - 1];
    const std::string name = "decoder.up" + std::to_string(config.channels.size() - 1 - i);
    if (config.strides[i] == 2) {
      up_transposed_.emplace_back(store_, name, from, to, 4, 2, 1, act_);
      up_is_transposed_.push_back(true);
    } else {
      up_plain_.emplace_back(store_, name, from, to, 3, 1, 1, act_);
      up_is_transposed_.push_back(false);
    }
  }
  out_.emplace_back(store_, "decoder.out", config.channels[0], likelihood_.params() * image.c, 3, 1, 1);
}

Var ConvVae::encode(Graph& g, Var x, Var y) const {
  for (const Conv2d& conv : down_) x = conv(g, x);
  const Shape s = g.shape(x);
  Var flat = g.view(x, Shape::rows(s.n, int(s.row_size())));
  return fcs_[0](g, y.valid() ? concat_columns(g, flat, y) : flat);
}

Var ConvVae::decode(Graph& g, Var z, Var y) const {
  const int rows = g.shape(z).n;
  if (y.valid()) z = concat_columns(g, z, y);
  Var h = g.view(fcs_[1](g, z), Shape::images(rows, bottleneck_.c, bottleneck_.h, bottleneck_.w));
  size_t t = 0, p = 0;
  for (bool transposed : up_is_transposed_) h = transposed ? up_transposed_[t++](g, h) : up_plain_[p++](g, h);
  return out_[0](g, h);
}

}  // namespace elbo
