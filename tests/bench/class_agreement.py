#!/usr/bin/env python3
"""Do a conditional model's samples show the classes they were drawn for? A nearest-
class-mean classifier (the mean training image of each class, squared distance) labels
every tile of an `elbo sample` grid of a conditional model, whose row r holds class
r mod CLASSES (docs/models.md), and this prints the agreement per class and in all.

  elbo sample configs/mnist_cvae.yaml --set train.sample_grid=10 --out cvae_grid.png
  python3 tests/bench/class_agreement.py --grid cvae_grid.png \\
      --images ../shared/data/mnist/train-images-idx3-ubyte.gz \\
      --labels ../shared/data/mnist/train-labels-idx1-ubyte.gz \\
      --test-images ../shared/data/mnist/t10k-images-idx3-ubyte.gz \\
      --test-labels ../shared/data/mnist/t10k-labels-idx1-ubyte.gz

The MNIST files: ../shared/data/mnist in this project's CI, or any MNIST mirror (the IDX
files, e.g. https://ossci-datasets.s3.amazonaws.com/mnist/). Exit status 1 when fewer
than --min-share of the tiles agree."""
import argparse
import gzip
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from png_info import decode  # noqa: E402  (zlib-only PNG reader shared with the e2e tests)


def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    _, kind, dims = struct.unpack(">HBB", data[:4])
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    assert kind == 0x08, f"{path}: IDX type {kind:#x}, expected unsigned bytes"
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", required=True, help="PNG written by elbo sample (a square grid of grey tiles)")
    p.add_argument("--images", required=True, help="training images, IDX (.gz or not)")
    p.add_argument("--labels", required=True, help="their labels, IDX (.gz or not)")
    p.add_argument("--test-images", help="optional held-out images (IDX): prints the classifier's accuracy on them")
    p.add_argument("--test-labels", help="their labels (IDX)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--min-share", type=float, default=0.8, help="the agreement below which the exit status is 1")
    a = p.parse_args()

    images = read_idx(a.images).astype(np.float32) / 255.0
    labels = read_idx(a.labels)
    assert images.shape[0] == labels.shape[0], "images and labels differ in count"
    cell_h, cell_w = images.shape[1], images.shape[2]
    means = np.stack([images[labels == k].mean(0) for k in range(a.classes)])

    width, height, channels, rows = decode(a.grid)
    assert channels == 1, f"{a.grid}: expected a grey PNG"
    grid = np.array([list(r) for r in rows], np.float32) / 255.0
    pad = 2  # elbo's grids: a 2-pixel white border around every tile (src/io/png_grid.cc)
    cols, n_rows = (width - pad) // (cell_w + pad), (height - pad) // (cell_h + pad)
    assert cols * (cell_w + pad) + pad == width and n_rows * (cell_h + pad) + pad == height, \
        f"{a.grid}: {width}x{height} is not a grid of {cell_w}x{cell_h} tiles with 2-pixel borders"
    agree = np.zeros(a.classes, int)
    total = np.zeros(a.classes, int)
    for r in range(n_rows):
        k = r % a.classes
        for c in range(cols):
            y, x = pad + r * (cell_h + pad), pad + c * (cell_w + pad)
            tile = grid[y:y + cell_h, x:x + cell_w]
            guess = int(np.argmin(((means - tile) ** 2).sum((1, 2))))
            agree[k] += guess == k
            total[k] += 1
    for k in range(a.classes):
        if total[k]:
            print(f"class {k}: {agree[k]} of {total[k]}")
    if a.test_images:  # the classifier's own accuracy on real images, for scale
        test = read_idx(a.test_images).astype(np.float32) / 255.0
        truth = read_idx(a.test_labels)
        d = ((test[:, None] - means[None]) ** 2).sum((2, 3))
        print(f"(on the {len(truth)} real images of --test-images it is right on {100 * (d.argmin(1) == truth).mean():.0f} %)")
    share = agree.sum() / max(1, total.sum())
    print(f"nearest-class-mean classifier agrees on {agree.sum()} of {total.sum()} samples ({100 * share:.0f} %)")
    return 0 if share >= a.min_share else 1


if __name__ == "__main__":
    sys.exit(main())
