#!/usr/bin/env bash
# The README's "Using elbo" commands run as written and succeed, so the docs cannot
# drift from the binary: the block is taken from README.md itself and run with bash -e
# in a scratch copy of the repository root, with `elbo` on the PATH from
# `cmake --install` (which is tested too), and the environment the README tells root
# users on few cores to set. Two things differ from a user's machine, to keep it fast:
# IDX holds generated images of 8 x 8 (60 000 training images, so the run's length and
# checkpoint names are the real ones), and configs/fashion_mlp.yaml trains a tiny model.
source "$ELBO_SRC/tests/e2e/lib.sh"

note "cmake --install into a prefix"
build=$(dirname "$ELBO_BIN")
if [ -f "$build/cmake_install.cmake" ]; then
  cmake --install "$build" --prefix "$PWD/prefix" >install.log 2>&1 || { cat install.log; fail "cmake --install"; }
  for f in bin/elbo share/elbo/configs/fashion_mlp.yaml share/elbo/docs/training.md share/elbo/README.md; do
    [ -f prefix/$f ] || fail "cmake --install did not install $f"
  done
  set +e
  prefix/bin/elbo train 2>noarg.err
  set -e
  grep -q "example configs: $PWD/prefix/share/elbo/configs (" noarg.err || { cat noarg.err; fail "installed elbo does not point at its configs"; }
else
  mkdir -p prefix/bin && ln -s "$ELBO_BIN" prefix/bin/elbo  # a binary outside a build tree
fi
export PATH="$PWD/prefix/bin:$PATH"
[ "$(command -v elbo)" = "$PWD/prefix/bin/elbo" ] || fail "elbo is not the installed one"

note "the repository root: configs/ with a tiny model; IDX with generated images"
mkdir root && cd root
mkdir configs
sed -e 's/^  hidden: \[512, 256\]/  hidden: [16]/' -e 's/^  latent: 32$/  latent: 4/' "$ELBO_SRC/configs/fashion_mlp.yaml" >configs/fashion_mlp.yaml
grep -q "^  hidden: \[16\]" configs/fashion_mlp.yaml && grep -q "^  latent: 4$" configs/fashion_mlp.yaml || fail "could not shrink the model"
elbo config check configs/fashion_mlp.yaml >/dev/null || fail "shrunk config invalid"
mkdir ../idx
"$PY" - ../idx <<'PY'
# Fashion-MNIST's four files in IDX format, gzipped: 60000 + 200 images of 8 x 8.
import gzip, struct, sys
import numpy as np
rng = np.random.default_rng(3)
for prefix, n in (("train", 60000), ("t10k", 200)):
    images = np.zeros((n, 8, 8), np.uint8)
    for k in range(3):  # a few bright bars per image
        rows = rng.integers(0, 8, n)
        images[np.arange(n), rows, :] = rng.integers(100, 256, (n, 1))
    labels = rng.integers(0, 10, n).astype(np.uint8)
    with gzip.open(f"{sys.argv[1]}/{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 8, 8) + images.tobytes())
    with gzip.open(f"{sys.argv[1]}/{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels.tobytes())
PY
export IDX=$PWD/../idx

note "the README's block"
awk '/^## Using elbo/ {on = 1} on && /^```bash$/ {inside = 1; next} inside && /^```$/ {exit} inside' "$ELBO_SRC/README.md" >readme.sh
[ "$(grep -c '^mpirun\|^elbo' readme.sh)" -ge 8 ] || { cat readme.sh; fail "README block not found"; }
cat readme.sh
# The README's note for root on a 2-core machine, as a user would follow it:
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
grep -q "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1" "$ELBO_SRC/README.md" &&
  grep -q "OMPI_MCA_rmaps_base_oversubscribe=1" "$ELBO_SRC/README.md" || fail "README lacks the root / oversubscribe note"
bash -euo pipefail readme.sh >readme.log 2>&1 || { cat readme.log; fail "the README's commands failed"; }
cat readme.log

note "what the README says they leave"
run=runs/lr3e-4
for f in $run/checkpoints/ckpt_000004687.h5 $run/eval_step000004687.json $run/eval.json $run/samples_final.png \
  $run/reconstructions_step000004687.png $run/curves.png $run/config.yaml $run/COMPLETED \
  $run/interpolations.png $run/test_latents.h5 $run/test_scores.csv; do
  [ -f "$f" ] || { ls -R runs; fail "missing $f"; }
done
grep -q "already complete at step 4687" readme.log || fail "the second train command did not find the run complete"
grep -q '"iw_k": 5000' $run/eval.json || fail "eval.json is not the k = 5000 evaluation"
grep -q "^  lr: 3e-04$" $run/config.yaml || fail "config.yaml lacks the override"
echo PASS
