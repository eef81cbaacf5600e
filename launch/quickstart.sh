#!/usr/bin/env bash
# One command from a fresh machine to a trained VAE: installs the system packages
# (idempotent), builds elbo and installs it (cmake --install, into ~/.local unless
# --prefix says otherwise) so that the README's `elbo ...` commands find it, converts
# Fashion-MNIST (Debian package dataset-fashion-mnist) to HDF5 shards, trains on 2 ranks
# for a short run, evaluates on the test set, writes sample and reconstruction grids and
# plots the training curves.
#   launch/quickstart.sh [--ranks N] [--steps N] [--iw-samples K] [--prefix DIR] [--build-dir DIR]
# Re-running continues the same run from its newest checkpoint (nothing is lost); a
# finished run is left as it is. --build-dir DIR builds there instead of build/release,
# and uses an elbo already built in DIR as it is (tests/e2e/test_quickstart.sh gives it
# the tree ctest built, so that it need not configure and build again).
set -euo pipefail

ranks=2 steps=1000 iw=100 prefix=$HOME/.local build=build/release given_build=
usage="usage: $0 [--ranks N] [--steps N] [--iw-samples K] [--prefix DIR] [--build-dir DIR]"
while [ $# -gt 0 ]; do
  case $1 in
    --ranks) ranks=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --iw-samples) iw=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --build-dir) build=$2 given_build=1; shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
[ -z "$given_build" ] || build=$(realpath -m "$build")  # as the caller meant it, before the cd
cd "$(dirname "$0")/.."
source launch/lib/install_deps.sh

install_deps build data
if [ -n "$given_build" ] && [ -x "$build/elbo" ]; then
  echo "using the elbo built in $build"
else
  fresh=(); [[ -f "$build/CMakeCache.txt" ]] || fresh=(-DELBO_TESTS=OFF)  # keeps a test build's options
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "${fresh[@]}" >/dev/null
  cmake --build "$build" -j"$(nproc)" --target elbo
fi
cmake --install "$build" --prefix "$prefix" >/dev/null
elbo=$prefix/bin/elbo
$elbo --version

idx=/usr/share/datasets/fashion-mnist
for split in train:train test:t10k; do
  name=${split%%:*} stem=${split##*:}
  if [ ! -f data/fashion/$name/manifest.yaml ]; then
    $elbo data convert --images $idx/$stem-images-idx3-ubyte.gz --labels $idx/$stem-labels-idx1-ubyte.gz \
      --out data/fashion/$name --shards $([ $name = train ] && echo 4 || echo 1)
  fi
done
$elbo data inspect data/fashion/train/manifest.yaml

export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
run=(--set run.dir=runs/quickstart --set train.steps=$steps --set train.checkpoint_every=250)
mpirun -np "$ranks" --oversubscribe $elbo train configs/fashion_mlp.yaml "${run[@]}"
mpirun -np "$ranks" --oversubscribe $elbo eval configs/fashion_mlp.yaml "${run[@]}" --set eval.iw_samples=$iw
$elbo plot runs/quickstart
echo
echo "quickstart done: runs/quickstart/{metrics.jsonl,curves.png,eval.json,samples.png,reconstructions.png,checkpoints/}"
if [ "$(command -v elbo || true)" != "$elbo" ]; then
  echo "elbo is installed as $elbo; to run the README's commands as written, put it on your PATH:"
  echo "  export PATH=\"$prefix/bin:\$PATH\""
fi
