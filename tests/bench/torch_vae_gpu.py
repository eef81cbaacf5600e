"""The GPU peer of elbo's benchmark: the same MLP VAE (784-512-256, latent 32, Bernoulli,
Adam lr 1e-3, dynamic binarization) trained on one GPU by PyTorch, eager and with
torch.compile, at the given global batches. Prints one JSON line per run:
  {"framework": "torch-eager"|"torch-compile", "batch": B, "samples_per_s": ..., "tflops": ...}
Data: Fashion-MNIST IDX files from --data when present, else random 28x28 images (the
rate does not depend on the pixels). Batches are drawn on the GPU from a GPU-resident
copy of the data set (the most favourable setting for the peer).
  python3 tests/bench/torch_vae_gpu.py --batches 128 1024 --steps 1100 --warmup 100 [--no-compile]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_vae import MlpVae, read_idx_images  # noqa: E402  (same model as the CPU peer)


def gemm_flops_per_step(batch, dims):
    """Forward + backward of every Linear: 6 * batch * in * out (2 for forward, 4 for backward)."""
    return sum(6 * batch * i * o for i, o in dims)


def linear_dims(model):
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)]


def run(framework, batch, steps, warmup, images, seed):
    torch.manual_seed(seed)
    dev = torch.device("cuda")
    model = MlpVae().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x):
        recon, kl = model(x)
        loss = (recon + kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    fn = torch.compile(step) if framework == "torch-compile" else step
    n = images.shape[0]
    t0 = None
    for s in range(steps):
        if s == warmup:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
        idx = torch.randint(0, n, (batch,), device=dev)
        x = torch.bernoulli(images[idx])
        fn(x)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    rate = (steps - warmup) * batch / seconds
    flops = gemm_flops_per_step(batch, linear_dims(model)) * (steps - warmup) / seconds
    return {"framework": framework, "batch": batch, "steps": steps, "warmup": warmup, "samples_per_s": rate,
            "gemm_tflops": flops / 1e12, "device": torch.cuda.get_device_name(0), "torch": torch.__version__}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, nargs="+", default=[128, 1024])
    p.add_argument("--steps", type=int, default=1100)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--seed", type=int, default=1234)
    a = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("torch_vae_gpu: no CUDA device visible to PyTorch")
    path = os.path.join(a.data, "train-images-idx3-ubyte.gz")
    if os.path.exists(path):
        raw = read_idx_images(path)
    else:
        raw = np.random.default_rng(0).integers(0, 256, (60000, 784), dtype=np.uint8)
    images = torch.from_numpy(raw.astype(np.float32) / 255.0).cuda()
    frameworks = ["torch-eager"] + ([] if a.no_compile else ["torch-compile"])
    for batch in a.batches:
        for fw in frameworks:
            try:
                print(json.dumps(run(fw, batch, a.steps, a.warmup, images, a.seed)), flush=True)
            except Exception as e:  # torch.compile may be unavailable (no Triton, no compiler)
                print(json.dumps({"framework": fw, "batch": batch, "error": f"{type(e).__name__}: {e}"[:300]}),
                      flush=True)


if __name__ == "__main__":
    main()
