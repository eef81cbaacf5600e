"""Structured synthetic images for the end-to-end tests: a few random filled
rectangles and strokes per image (so a VAE has something to learn), uint8 .npy."""
import argparse

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--count", type=int, required=True)
p.add_argument("--height", type=int, default=28)
p.add_argument("--width", type=int, default=28)
p.add_argument("--channels", type=int, default=1)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--float32", action="store_true")
a = p.parse_args()
rng = np.random.default_rng(a.seed)
img = np.zeros((a.count, a.channels, a.height, a.width), dtype=np.float32)
for i in range(a.count):
    for _ in range(rng.integers(1, 4)):
        y0, x0 = rng.integers(0, a.height - 2), rng.integers(0, a.width - 2)
        y1, x1 = rng.integers(y0 + 2, a.height + 1), rng.integers(x0 + 2, a.width + 1)
        img[i, :, y0:y1, x0:x1] = rng.uniform(0.4, 1.0)
img = img[:, 0] if a.channels == 1 else img
if a.float32:
    np.save(a.out, img.astype(np.float32))
else:
    np.save(a.out, (img * 255).astype(np.uint8))
