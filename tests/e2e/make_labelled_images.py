"""Labelled synthetic images for the conditional-model tests: class k of K is a bright
horizontal band at its own height (plus noise pixels), so the class is visible in a
sample and a nearest-class-mean classifier can tell the classes apart. uint8 .npy
images and int32 .npy labels."""
import argparse

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--out", required=True, help="prefix: writes PREFIX_images.npy and PREFIX_labels.npy")
p.add_argument("--count", type=int, required=True)
p.add_argument("--size", type=int, default=12)
p.add_argument("--classes", type=int, default=4)
p.add_argument("--label-max", type=int, default=None, help="draw labels up to this value (bad-input tests)")
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
rng = np.random.default_rng(a.seed)
top = a.classes - 1 if a.label_max is None else a.label_max
labels = rng.integers(0, top + 1, size=a.count).astype(np.int32)
band = a.size // a.classes
img = (rng.uniform(size=(a.count, a.size, a.size)) < 0.05).astype(np.float32)
for i, k in enumerate(labels):
    row = min(int(k), a.classes - 1) * band
    img[i, row : row + band, :] = 1.0
np.save(a.out + "_images.npy", (img * 255).astype(np.uint8))
np.save(a.out + "_labels.npy", labels)
