"""PyTorch peer of elbo's convolutional hierarchical VAE (model.type hvae, model.group_type
conv; src/models/hvae.cc and hvae_conv_blocks.cc), the model of configs/mnist_hvae_conv.yaml:
3 groups of latent maps (4, 4, 2 channels at 7x7, 7x7, 14x14 on 28x28 images), 32-channel
residual Swish cells (one per block), average pooling up, nearest upsampling down, the
residual posterior (q = p + offsets from [d_l | h]), prior heads zero at init, each cell's
last conv scaled by 1/sqrt(groups x cells). Same layers, same order of work, same objective
(Bernoulli NLL + the groups' analytic KLs; the same bound on every log-variance), so that
samples/s compare the frameworks, not the models. Imported by torch_vae.py (--model hvae_conv).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class Cell(nn.Module):
    """x + conv2(swish(conv1(swish(x)))), both 3x3 (nn/residual.h without norms)."""

    def __init__(self, c, last_scale):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c, c, 3, 1, 1), nn.Conv2d(c, c, 3, 1, 1)
        with torch.no_grad():
            self.conv2.weight.mul_(last_scale)
            self.conv2.bias.mul_(last_scale)

    def forward(self, x):
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


def bound_variance(stats, c, clamp=10.0, floor=0.01):
    """elbo's model.logvar_clamp and model.sigma_floor (nn/variance_bound.h) on (mu | logvar)."""
    mu, lv = stats[:, :c], stats[:, c:]
    lv = clamp * torch.tanh(lv / clamp)
    lv = 2.0 * (math.log(floor) + F.softplus(0.5 * lv - math.log(floor)))
    return torch.cat([mu, lv], 1)


def halvings(a, b):
    return int(round(math.log2(a // b)))


class HvaeConv(nn.Module):
    def __init__(self, latents=(4, 4, 2), width=(32, 32, 32), scale=(4, 4, 2), depth=1, image=(1, 28, 28)):
        super().__init__()
        L = len(latents)
        self.latents, self.width, self.scale, self.image = latents, width, scale, image
        s = 1.0 / math.sqrt(L * depth)
        cells = lambda c: nn.Sequential(*[Cell(c, s) for _ in range(depth)])  # noqa: E731
        self.stem = nn.Conv2d(image[0], width[L - 1], 3, 1, 1)
        self.up_proj = nn.ModuleList([nn.Conv2d(width[l + 1], width[l], 1) if l + 1 < L and width[l + 1] != width[l]
                                      else nn.Identity() for l in range(L)])
        self.up_cells = nn.ModuleList([cells(width[l]) for l in range(L)])
        self.q = nn.ModuleList([nn.Conv2d(width[l] * (1 if l == 0 else 2), 2 * latents[l], 3, 1, 1) for l in range(L)])
        # The top group's prior is N(0, I): no head (DDP refuses parameters without gradients).
        self.prior = nn.ModuleList([nn.Identity()] + [nn.Conv2d(width[l], 2 * latents[l], 3, 1, 1) for l in range(1, L)])
        for p in list(self.prior)[1:]:  # zero at init: p(z_l | z_<l) = N(0, I)
            nn.init.zeros_(p.weight)
            nn.init.zeros_(p.bias)
        self.z_in = nn.ModuleList([nn.Conv2d(latents[l], width[l], 1) for l in range(L)])
        self.down_cells = nn.ModuleList([cells(width[l]) for l in range(L)])
        self.down_proj = nn.ModuleList([nn.Conv2d(width[l], width[l + 1], 1) if l + 1 < L and width[l + 1] != width[l]
                                        else nn.Identity() for l in range(L)])
        self.out = nn.Conv2d(width[L - 1], image[0], 3, 1, 1)

    def down(self, l, h, z):
        t = self.z_in[l](z)
        if h is not None:
            t = h + t
        t = self.down_cells[l](t)
        to = self.scale[l + 1] if l + 1 < len(self.latents) else 1
        for _ in range(halvings(self.scale[l], to)):
            t = F.interpolate(t, scale_factor=2, mode="nearest")
        return self.down_proj[l](t)

    def forward(self, x):
        L = len(self.latents)
        img = x.view(-1, *self.image)
        d = [None] * L
        h = self.stem(img)
        for _ in range(halvings(self.scale[L - 1], 1)):
            h = F.avg_pool2d(h, 2)
        d[L - 1] = self.up_cells[L - 1](h)
        for l in range(L - 2, -1, -1):
            h = d[l + 1]
            for _ in range(halvings(self.scale[l], self.scale[l + 1])):
                h = F.avg_pool2d(h, 2)
            d[l] = self.up_cells[l](self.up_proj[l](h))
        kl = 0.0
        h, z = None, None
        for l in range(L):
            c = self.latents[l]
            if l == 0:
                q = bound_variance(self.q[0](d[0]), c)
                mq, lq = q[:, :c], q[:, c:]
                kl = 0.5 * (mq * mq + lq.exp() - 1.0 - lq).flatten(1).sum(1)
            else:
                h = self.down(l - 1, h, z)
                p = bound_variance(self.prior[l](h), c)
                q = bound_variance(p + self.q[l](torch.cat([d[l], h], 1)), c)
                mq, lq, mp, lp = q[:, :c], q[:, c:], p[:, :c], p[:, c:]
                kl = kl + 0.5 * (lp - lq + (lq.exp() + (mq - mp) ** 2) / lp.exp() - 1.0).flatten(1).sum(1)
            z = mq + torch.exp(0.5 * lq) * torch.randn_like(mq)
        logits = self.out(self.down(L - 1, h, z)).view(x.shape[0], -1)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        return recon, kl
