"""Compares the parameters of two elbo checkpoints.
  --bitwise        every parameter identical to the bit
  --rtol X         ||a - b|| / ||b|| <= X over all parameters together
  --optimizer      the Adam moments too
  --state          the weight average (/ema, where either file has one) and the skipped-step
                   counts too: all a resume must restore
Prints the largest differences; exit 1 when the check fails."""
import argparse
import sys

import h5py
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("a")
p.add_argument("b")
p.add_argument("--bitwise", action="store_true")
p.add_argument("--rtol", type=float, default=0.0)
p.add_argument("--optimizer", action="store_true", help="compare Adam moments too")
p.add_argument("--state", action="store_true", help="compare the weight average and the skip counts too")
a = p.parse_args()
groups = ["params"] + (["optimizer/m", "optimizer/v"] if a.optimizer else [])
with h5py.File(a.a, "r") as fa, h5py.File(a.b, "r") as fb:
    keys = ["step", "cursor"]
    if a.state:
        keys += ["skipped_nonfinite", "skipped_over_threshold"]
        if ("ema" in fa) != ("ema" in fb):
            print("one checkpoint has a weight average (/ema), the other not")
            sys.exit(1)
        if "ema" in fa:
            groups.append("ema")
    for key in keys:
        if fa.attrs[key] != fb.attrs[key]:
            print(f"{key} differs: {fa.attrs[key]} vs {fb.attrs[key]}")
            sys.exit(1)
    num = den = 0.0
    ok = True
    for g in groups:
        names = sorted(fa[g].keys())
        if names != sorted(fb[g].keys()):
            print(f"{g}: parameter names differ")
            sys.exit(1)
        for n in names:
            x, y = fa[g][n][()], fb[g][n][()]
            if a.bitwise and not np.array_equal(x.view(np.uint32), y.view(np.uint32)):
                print(f"{g}/{n}: not bitwise identical, max |diff| {np.abs(x - y).max():.3e}")
                ok = False
            num += float(np.sum((x.astype(np.float64) - y) ** 2))
            den += float(np.sum(y.astype(np.float64) ** 2))
    rel = (num / max(den, 1e-300)) ** 0.5
    print(f"relative difference {rel:.3e} over {groups}")
    if not a.bitwise and rel > a.rtol:
        ok = False
sys.exit(0 if ok else 1)
