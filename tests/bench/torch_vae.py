#!/usr/bin/python3
"""PyTorch reference for the CPU benchmark: the MLP VAE of configs/fashion_mlp.yaml
(or, with --model conv, the conv VAE of configs/fashion_conv.yaml; with --model hvae_conv
the conv hierarchical VAE of configs/mnist_hvae_conv.yaml, tests/bench/torch_hvae_conv.py).

Same model (784-512-256 -> 2x32 | 32-256-512-784, relu, Bernoulli logits), same
objective (global-batch mean of BCE-with-logits summed over pixels + closed-form KL,
beta 1), same optimiser (Adam lr 1e-3, betas 0.9/0.999, eps 1e-8), same data (the
Fashion-MNIST IDX .gz files, scaled to [0,1], a fresh Bernoulli draw of every pixel
each time it is seen) and the same split of each global batch of 128 over the ranks
as `elbo train`. Several ranks run DistributedDataParallel over gloo, one process per
rank, torch.set_num_threads(cores // ranks) each, like elbo's OpenBLAS threads.

Modes (one JSON object is printed on stdout by rank 0):
  --steps N --warmup W   throughput: samples/s over steps W+1..N (wall clock of rank 0)
  --epochs E             quality: train E epochs, then the test negative ELBO
                         (one binarization and one z sample per test image)

Run with Debian's /usr/bin/python3 (python3-torch), e.g.
  /usr/bin/python3 tests/bench/torch_vae.py --ranks 2 --steps 300 --warmup 50
"""
import argparse
import ctypes
import gzip
import json
import os
import socket
import struct
import sys
import time

# GNU OpenMP's idle workers spin for a while after each parallel region; with torch's
# OpenMP pool and OpenBLAS's pthread pool both sized to the cores, the spinning workers
# take the cores OpenBLAS's threads need, and one rank on 2 cores runs 3-4x slower.
# Passive waiting removes that collision (it must be set before torch loads libgomp).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def read_idx_images(path):
    """uint8 array [n, rows*cols] from an IDX3 file (gzip or plain)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 16:
        sys.exit(f"torch_vae: {path}: too short for an IDX image header ({len(raw)} bytes)")
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 2051:
        sys.exit(f"torch_vae: {path}: IDX magic {magic}, expected 2051 (unsigned-byte 3-d images)")
    if len(raw) != 16 + n * rows * cols:
        sys.exit(f"torch_vae: {path}: header says {n}x{rows}x{cols} images but the file holds {len(raw) - 16} bytes of data")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)


class MlpVae(nn.Module):
    """nn.Linear's default init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias: elbo's init."""

    def __init__(self, dim=784, hidden=(512, 256), latent=32):
        super().__init__()
        enc, width = [], dim
        for h in hidden:
            enc += [nn.Linear(width, h), nn.ReLU()]
            width = h
        enc.append(nn.Linear(width, 2 * latent))
        dec, width = [], latent
        for h in reversed(hidden):
            dec += [nn.Linear(width, h), nn.ReLU()]
            width = h
        dec.append(nn.Linear(width, dim))
        self.encoder, self.decoder, self.latent = nn.Sequential(*enc), nn.Sequential(*dec), latent

    def forward(self, x):
        """Per-row (recon, kl): BCE-with-logits summed over pixels, KL(q(z|x) || N(0, I))."""
        h = self.encoder(x)
        mu, logvar = h[:, : self.latent], h[:, self.latent :]
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.decoder(z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar).sum(1)
        return recon, kl


class ConvVae(nn.Module):
    """elbo's conv_vae of configs/fashion_conv.yaml: convs 1-32-64 (k4 s2 p1) + relu, fc to
    2x32 | fc 32 -> 64*7*7 + relu, ConvTranspose 64-32 and 32-32 (k4 s2 p1, no bias) + relu,
    conv 32-1 k3 p1 to the logits. PyTorch's default inits are elbo's (U(+-1/sqrt(fan_in)))."""

    def __init__(self, latent=32, channels=(32, 64)):
        super().__init__()
        c1, c2 = channels
        self.encoder = nn.Sequential(nn.Conv2d(1, c1, 4, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(),
                                     nn.Flatten(), nn.Linear(c2 * 7 * 7, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, c2 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),
                                     nn.ConvTranspose2d(c2, c1, 4, 2, 1, bias=False), nn.ReLU(),
                                     nn.ConvTranspose2d(c1, c1, 4, 2, 1, bias=False), nn.ReLU(),
                                     nn.Conv2d(c1, 1, 3, 1, 1))
        self.latent = latent

    def forward(self, x):
        h = self.encoder(x.view(-1, 1, 28, 28))
        mu, logvar = h[:, : self.latent], h[:, self.latent :]
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.decoder(z).view(x.shape[0], -1)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar).sum(1)
        return recon, kl


class GlobalBatches:
    """The sample indices of each global batch: one permutation per epoch (from seed and
    epoch), read as one continuous stream, so batches may straddle an epoch boundary
    (elbo's loader does the same; the step count is epochs * count // batch)."""

    def __init__(self, count, batch, seed):
        self.count, self.batch, self.seed = count, batch, seed
        self.epoch, self.order, self.pos = -1, None, count

    def next(self):
        out = []
        while len(out) < self.batch:
            if self.pos == self.count:
                self.epoch += 1
                g = torch.Generator().manual_seed(self.seed * 1000003 + self.epoch)
                self.order, self.pos = torch.randperm(self.count, generator=g), 0
            take = min(self.batch - len(out), self.count - self.pos)
            out.append(self.order[self.pos : self.pos + take])
            self.pos += take
        return torch.cat(out)


@torch.no_grad()
def test_nelbo(model, images, seed, batch=1000):
    """Mean test negative ELBO in nats: one binarization and one z sample per image."""
    torch.manual_seed(seed + 7)
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64)
    for first in range(0, images.shape[0], batch):
        x = torch.bernoulli(images[first : first + batch].float() / 255.0)
        recon, kl = model(x)
        sums += torch.stack([recon.sum().double(), kl.sum().double()])
    model.train()
    recon, kl = (sums / images.shape[0]).tolist()
    return recon + kl, recon, kl


def set_blas_threads(n):
    """torch.set_num_threads sizes torch's OpenMP pool but not OpenBLAS's own pthread pool,
    which Debian's torch calls for every GEMM and which starts one thread per core; give it
    n threads, as elbo does per rank (else two ranks run 4 spinning GEMM threads on 2 cores)."""
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(n)
        return True
    except (OSError, AttributeError):
        return False


def worker(rank, args, port):
    world = args.ranks
    torch.set_num_threads(args.threads)
    blas_threads_set = set_blas_threads(args.blas_threads)
    if world > 1:
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
        dist.init_process_group("gloo", rank=rank, world_size=world)
    train = torch.from_numpy(read_idx_images(os.path.join(args.data, "train-images-idx3-ubyte.gz")).copy())
    # Identical initial weights on every rank (DDP would also broadcast rank 0's);
    # a different noise stream per rank, like elbo's per-sample counters.
    torch.manual_seed(args.seed)
    if args.model == "hvae_conv":
        from torch_hvae_conv import HvaeConv  # the conv hvae of configs/mnist_hvae_conv.yaml
        model = HvaeConv()
    else:
        model = ConvVae() if args.model == "conv" else MlpVae(dim=train.shape[1])
    torch.manual_seed(args.seed + 1 + rank)
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    batches = GlobalBatches(train.shape[0], args.batch, args.seed)
    local = args.batch // world

    steps = args.steps if args.epochs == 0 else args.epochs * train.shape[0] // args.batch
    warmup = args.warmup if args.epochs == 0 else 0
    loss_sum, loss_n = 0.0, 0
    t_start = time.perf_counter()
    t_measured = t_start
    for step in range(1, steps + 1):
        idx = batches.next()[rank * local : (rank + 1) * local]  # this rank's slice of the global batch
        x = torch.bernoulli(train[idx].float().div_(255.0))  # dynamic binarization
        recon, kl = net(x)
        # Mean over the local rows; DDP averages the gradient over ranks: the global-batch mean.
        loss = (recon + kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
        if step == warmup:
            t_measured = time.perf_counter()
        if args.log_every and step % args.log_every == 0 and rank == 0:
            print(f"torch_vae: step {step}/{steps}  loss(rank 0 slice) {loss_sum / loss_n:.4f}", file=sys.stderr, flush=True)
            loss_sum, loss_n = 0.0, 0
    t_end = time.perf_counter()

    if rank == 0:
        result = {
            "framework": "torch",
            "model": args.model,
            "torch_version": torch.__version__,
            "ranks": world,
            "threads_per_rank": args.threads,
            "openblas_threads": args.blas_threads if blas_threads_set else None,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "global_batch": args.batch,
            "steps": steps,
            "wall_s": t_end - t_start,
        }
        if args.epochs == 0:
            measured = steps - warmup
            result.update(warmup=warmup, measured_steps=measured, measured_s=t_end - t_measured,
                          samples_per_s=measured * args.batch / (t_end - t_measured))
        else:
            test = torch.from_numpy(read_idx_images(os.path.join(args.data, "t10k-images-idx3-ubyte.gz")).copy())
            nelbo, recon, kl = test_nelbo(model, test, args.seed)
            result.update(epochs=args.epochs, test_images=test.shape[0], test_nelbo=nelbo, test_recon=recon, test_kl=kl)
        print(json.dumps(result), flush=True)
    if world > 1:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ranks", type=int, default=1, help="processes (DDP over gloo when > 1)")
    p.add_argument("--steps", type=int, default=300, help="throughput mode: total optimiser steps")
    p.add_argument("--warmup", type=int, default=50, help="throughput mode: steps left out of the rate")
    p.add_argument("--epochs", type=int, default=0, help="quality mode: epochs to train, then the test NELBO")
    p.add_argument("--batch", type=int, default=128, help="global batch, split evenly over the ranks")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads per rank (default cores // ranks)")
    p.add_argument("--blas-threads", type=int, default=0, help="OpenBLAS threads per rank (default cores // ranks)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--model", choices=["mlp", "conv", "hvae_conv"], default="mlp",
                   help="mlp: configs/fashion_mlp.yaml's model; conv: configs/fashion_conv.yaml's; "
                        "hvae_conv: configs/mnist_hvae_conv.yaml's (tests/bench/torch_hvae_conv.py)")
    p.add_argument("--log-every", type=int, default=0, help="print the mean loss every N steps on stderr")
    p.add_argument("--data", default=DEFAULT_DATA, help="folder with the Fashion-MNIST IDX .gz files")
    args = p.parse_args()
    if args.ranks < 1 or args.batch % args.ranks:
        p.error(f"--batch {args.batch} must be a positive multiple of --ranks {args.ranks}")
    if args.epochs == 0 and not (0 <= args.warmup < args.steps):
        p.error(f"--warmup {args.warmup} must be in [0, --steps {args.steps})")
    if args.threads <= 0:
        args.threads = max(1, (os.cpu_count() or 1) // args.ranks)
    if args.blas_threads <= 0:
        args.blas_threads = max(1, (os.cpu_count() or 1) // args.ranks)
    if args.ranks == 1:
        worker(0, args, 0)
    else:
        mp.spawn(worker, args=(args, free_port()), nprocs=args.ranks, join=True)


if __name__ == "__main__":
    main()
