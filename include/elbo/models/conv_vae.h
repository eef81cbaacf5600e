// Convolutional VAE (DCGAN-style towers, as in most conv VAE baselines):
//   encoder: for each i, Conv2d(c_{i-1} -> channels[i], stride strides[i]; kernel 4 and
//            padding 1 for stride 2, kernel 3 and padding 1 for stride 1) + activation,
//            then flatten and Linear -> (mu | logvar)  ["encoder.conv<i>", "encoder.fc"]
//   decoder: Linear(latent -> last conv's C*H*W) + activation, unflatten, the encoder's
//            convolutions mirrored (ConvTranspose2d k4 s2 p1 for stride 2, Conv2d k3 s1
//            p1 for stride 1) + activation, and a final Conv2d k3 p1 to the likelihood's
//            channels (C logits, or 2C: mean | logvar)  ["decoder.fc", "decoder.up<i>",
//            "decoder.out"]
// Images must halve exactly at every stride-2 layer (28 -> 14 -> 7 for MNIST).
// Conditional (model.conditional): the one-hot class joins the flattened features before
// encoder.fc and z before decoder.fc.
#pragma once
#include <vector>

#include "elbo/models/graph_vae.h"
#include "elbo/nn/conv2d.h"
#include "elbo/nn/linear.h"

namespace elbo {

class ConvVae final : public GraphVae {
 public:
  // image: (1, C, H, W)
  ConvVae(const ModelConfig& config, Shape image);
  std::string type() const override { return "conv_vae"; }

 protected:
  Var encode(Graph& g, Var x, Var y) const override;
  Var decode(Graph& g, Var z, Var y) const override;

 private:
  std::vector<Conv2d> down_;
  std::vector<Conv2d> up_plain_;               // stride-1 decoder layers
  std::vector<ConvTranspose2d> up_transposed_;  // stride-2 decoder layers
  std::vector<bool> up_is_transposed_;         // decoder layer order
  std::vector<Linear> fcs_;      // [encoder.fc, decoder.fc]
  std::vector<Conv2d> out_;      // [decoder.out]
  Activation act_;
  Shape bottleneck_;  // (1, C, H, W) after the encoder's convolutions
};

}  // namespace elbo
