#!/usr/bin/python3
"""PyTorch peer of elbo_conv_bench: the same convolution layers, timed the same way.

For each layer (kept in step with LAYERS in tests/bench/conv_bench.cc) and each thread
count (1 and --threads), the fastest of --reps batches of
  forward           F.conv2d(x, w, b) (no autograd)
  backward_data     aten.convolution_backward, input gradient only
  backward_weights  aten.convolution_backward, weight and bias gradients
  all three         the three above, one after the other
in ms per batch, samples/s and GFLOP/s (2 N C_out H_out W_out C_in K^2 per op), in the
table format of elbo_conv_bench. With --elbo-bench PATH it runs that binary first with
the same arguments, so one run prints both.

Run with Debian's /usr/bin/python3 (python3-torch, whose CPU convolutions are oneDNN's
too), e.g.
  /usr/bin/python3 tests/bench/conv_peer.py --elbo-bench build/release/elbo_conv_bench
"""
import argparse
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from bench_report import cpu_model

# name, c_in, h, w, c_out, kernel, stride, pad
LAYERS = [
    ("conv1 1->32 28x28 k4 s2 p1", 1, 28, 28, 32, 4, 2, 1),
    ("conv2 32->64 14x14 k4 s2 p1", 32, 14, 14, 64, 4, 2, 1),
]


def fastest_seconds(reps, fn):
    """The fastest of reps calls (other processes on a shared machine only add time)."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_layer(layer, batch, threads, reps):
    name, c_in, h, w, c_out, k, stride, pad = layer
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(batch, c_in, h, w, generator=gen) * 2 - 1
    weight = torch.rand(c_out, c_in, k, k, generator=gen) * 2 - 1
    bias = torch.rand(c_out, generator=gen) * 2 - 1
    with torch.no_grad():
        y = F.conv2d(x, weight, bias, stride=stride, padding=pad)
    dy = torch.rand(y.shape, generator=gen) * 2 - 1
    flop = 2.0 * batch * c_out * y.shape[2] * y.shape[3] * c_in * k * k

    def backward(mask):
        return torch.ops.aten.convolution_backward(dy, x, weight, [c_out], [stride, stride], [pad, pad], [1, 1],
                                                   False, [0, 0], 1, mask)

    def forward():
        with torch.no_grad():
            F.conv2d(x, weight, bias, stride=stride, padding=pad)

    ops = [
        ("forward", forward, flop),
        ("backward_data", lambda: backward([True, False, False]), flop),
        ("backward_weights", lambda: backward([False, True, True]), flop),
        ("all three", lambda: (forward(), backward([True, False, False]), backward([False, True, True])), 3 * flop),
    ]
    for op, fn, op_flop in ops:
        sec = fastest_seconds(reps, fn)
        print(f"{'torch':<8} {name:<28} {op:<16} {threads:>7} {sec * 1e3:9.3f} {batch / sec:11.0f} "
              f"{op_flop / sec * 1e-9:8.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--elbo-bench", help="path of elbo_conv_bench, run first with the same arguments")
    args = ap.parse_args()
    print(f"# {cpu_model()}, load {os.getloadavg()[0]:.2f}; torch {torch.__version__}, "
          f"mkldnn {torch.backends.mkldnn.is_available()}", flush=True)
    if args.elbo_bench:
        subprocess.run([args.elbo_bench, "--batch", str(args.batch), "--threads", str(args.threads), "--reps",
                        str(args.reps)], check=True, stdout=sys.stdout)
    else:
        print(f"{'who':<8} {'layer':<28} {'op':<16} {'threads':>7} {'ms':>9} {'samples/s':>11} {'GFLOP/s':>8}")
    torch.set_num_interop_threads(1)
    for threads in sorted({1, args.threads}):
        for layer in LAYERS:
            bench_layer(layer, args.batch, threads, args.reps)


if __name__ == "__main__":
    main()
