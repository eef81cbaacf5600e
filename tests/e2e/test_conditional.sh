#!/usr/bin/env bash
# Conditional VAEs (model.conditional): the labels of the shards feed encoder and
# decoder as one-hot vectors. 1 rank x 128 and 2 x 64 reach the same parameters (1e-5);
# `elbo sample --class K` draws class K, which a nearest-class-mean classifier (class
# means of the training images) recognises in most samples; reconstruct works, and sample
# --class and reconstruct on a conditional conv_vae; a class out of range or not a number,
# or --class on an unconditional model, is an error; eval runs on labelled test data. Bad input: a conditional model on shards without labels, a label out of range,
# a checkpoint of one model type resumed with a config of another, a conv model on
# images that cannot be halved: each a clear error naming the key or file, nothing written.
source "$ELBO_SRC/tests/e2e/lib.sh"
"$PY" "$ELBO_SRC/tests/e2e/make_labelled_images.py" --out lab --count 1200 --size 12 --classes 4 --seed 3
"$ELBO_BIN" data convert --images lab_images.npy --labels lab_labels.npy --out data --shards 2 >/dev/null
cond=(--set model.conditional=true --set model.classes=4 --set 'model.hidden=[64]' --set model.latent=4
      --set data.binarize=none --set train.sample_grid=4)

note "1 rank vs 2 ranks, conditional mlp_vae"
for np in 1 2; do
  write_config c$np.yaml run$np data/manifest.yaml data/manifest.yaml
  elbo_np $np train c$np.yaml "${cond[@]}" --set train.steps=50 --set train.checkpoint_every=0 >log$np.txt 2>&1 ||
    { cat log$np.txt; fail "train on $np ranks"; }
done
compare_ckpt run2/checkpoints/ckpt_000000050.h5 run1/checkpoints/ckpt_000000050.h5 --rtol 1e-5 ||
  fail "2 ranks differ from 1 rank"

note "class-conditional samples show the requested class"
write_config long.yaml long data/manifest.yaml data/manifest.yaml
elbo_np 2 train long.yaml "${cond[@]}" --set train.steps=400 --set train.lr=0.003 >long.log 2>&1 ||
  { cat long.log; fail "train"; }
for k in 0 1 2 3; do
  "$ELBO_BIN" sample --checkpoint long/checkpoints/ckpt_000000400.h5 --class $k --out samples_$k.png \
    --set train.sample_grid=6 >sample_$k.log 2>&1 || { cat sample_$k.log; fail "sample --class $k"; }
done
"$PY" - "$ELBO_SRC/tests/e2e" <<'PY' || fail "class-conditional samples are not recognised as their class"
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from png_info import decode
def read_png(path):
    width, height, channels, rows = decode(path)
    return np.array([list(r) for r in rows], np.float32) / 255.0
images = np.load("lab_images.npy").astype(np.float32) / 255.0
labels = np.load("lab_labels.npy")
means = np.stack([images[labels == k].mean(0) for k in range(4)])
agree = total = 0
for k in range(4):
    grid = read_png(f"samples_{k}.png")
    cell = 12
    pad = (grid.shape[0] - 6 * cell) // 7 if grid.shape[0] > 6 * cell else 0
    for r in range(6):
        for c in range(6):
            y, x = pad + r * (cell + pad), pad + c * (cell + pad)
            s = grid[y:y + cell, x:x + cell]
            guess = int(np.argmin(((means - s) ** 2).sum((1, 2))))
            agree += guess == k; total += 1
print(f"nearest-class-mean classifier agrees on {agree} of {total} samples")
raise SystemExit(0 if agree >= 0.8 * total else 1)
PY
elbo_np 2 eval long.yaml "${cond[@]}" --set eval.iw_samples=10 --set eval.max_images=200 >eval.log 2>&1 ||
  { cat eval.log; fail "eval of the conditional model"; }
grep -q "IW NLL" eval.log || fail "no eval result"
grep -qE "active units    [1-4] of 4" eval.log || { cat eval.log; fail "no active units reported"; }

note "reconstruct, and sample --class on a conditional conv_vae; --class errors"
"$ELBO_BIN" reconstruct --checkpoint long/checkpoints/ckpt_000000400.h5 --out recon.png >recon.log 2>&1 ||
  { cat recon.log; fail "reconstruct of a conditional mlp_vae"; }
[ -s recon.png ] || fail "reconstruct wrote no recon.png"
write_config cconv.yaml cconv data/manifest.yaml data/manifest.yaml
elbo_np 2 train cconv.yaml "${cond[@]}" --set model.type=conv_vae --set 'model.channels=[8, 16]' --set 'model.strides=[2, 2]' \
  --set train.steps=30 >cconv.log 2>&1 || { cat cconv.log; fail "train a conditional conv_vae"; }
cconv_ckpt=cconv/checkpoints/ckpt_000000030.h5
"$ELBO_BIN" sample --checkpoint $cconv_ckpt --class 2 --out cconv_samples.png >cs.log 2>&1 || { cat cs.log; fail "sample --class of a conditional conv_vae"; }
"$ELBO_BIN" reconstruct --checkpoint $cconv_ckpt --out cconv_recon.png >cr.log 2>&1 || { cat cr.log; fail "reconstruct of a conditional conv_vae"; }
[ -s cconv_samples.png ] && [ -s cconv_recon.png ] || fail "conditional conv_vae pictures missing"
class_error() {  # class_error PATTERN ARGS...: elbo sample ARGS fails, saying PATTERN, writing nothing
  local pattern=$1
  shift
  if "$ELBO_BIN" sample "$@" --out bad_class.png >bad_class.log 2>&1; then cat bad_class.log; fail "sample $* succeeded"; fi
  grep -q -- "$pattern" bad_class.log || { cat bad_class.log; fail "sample $*: no '$pattern' in the error"; }
  [ ! -e bad_class.png ] || fail "sample $*: wrote bad_class.png"
}
class_error "--class 4: expected a class 0..3" --checkpoint $cconv_ckpt --class 4
class_error "--class two: expected a class 0..3" --checkpoint $cconv_ckpt --class two
make_dataset plain 200 12 12 2 1
write_config plain.yaml plainrun plain/manifest.yaml
elbo_np 1 train plain.yaml --set train.steps=2 --set train.sample_grid=0 >plain.log 2>&1 || { cat plain.log; fail "plain run"; }
class_error "is not conditional" --checkpoint plainrun/checkpoints/ckpt_000000002.h5 --class 1

note "active units: a posterior pushed onto the prior (beta = 200) has none, and eval says so"
write_config collapsed.yaml collapsed data/manifest.yaml data/manifest.yaml
elbo_np 2 train collapsed.yaml "${cond[@]}" --set train.steps=150 --set train.beta=200 --set train.lr=0.003 >collapsed.log 2>&1 ||
  { cat collapsed.log; fail "train collapsed"; }
elbo_np 2 eval collapsed.yaml "${cond[@]}" --set eval.iw_samples=2 --set eval.max_images=200 >ceval.log 2>&1 ||
  { cat ceval.log; fail "eval collapsed"; }
grep -q "active units    0 of 4" ceval.log && grep -q "warning: no active latent dimension" ceval.log ||
  { cat ceval.log; fail "collapse not reported"; }

note "bad input: no labels, a label out of range, another model type, images that cannot be halved"
make_dataset unlabelled 300 12 12 1 1
write_config nolab.yaml nolab unlabelled/manifest.yaml
set +e
elbo_np 2 train nolab.yaml "${cond[@]}" >nolab.log 2>&1; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "model.conditional: data.train unlabelled/manifest.yaml holds no labels" nolab.log ||
  { cat nolab.log; fail "no-labels error"; }
[ ! -e nolab/checkpoints ] || fail "no-labels: checkpoints written"
"$PY" "$ELBO_SRC/tests/e2e/make_labelled_images.py" --out wide --count 300 --size 12 --classes 4 --label-max 6 --seed 4
"$ELBO_BIN" data convert --images wide_images.npy --labels wide_labels.npy --out wide --shards 1 >/dev/null
write_config wide.yaml widerun wide/manifest.yaml
set +e
elbo_np 2 train wide.yaml "${cond[@]}" >wide.log 2>&1; rc=$?
set -e
[ $rc -ne 0 ] && grep -qE "data.train: wide/shard_00000.h5 holds label [4-6], outside 0..3 \(model.classes = 4;" wide.log ||
  { cat wide.log; fail "label-range error"; }
[ ! -e widerun/checkpoints ] || fail "label range: checkpoints written"
before=$(ls -l --time-style=full-iso long/checkpoints)
set +e
elbo_np 1 train long.yaml "${cond[@]}" --set model.type=conv_vae --set train.steps=500 >other.log 2>&1; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "was written for another model" other.log || { cat other.log; fail "model-type mismatch"; }
[ "$(ls -l --time-style=full-iso long/checkpoints)" = "$before" ] || fail "model-type mismatch: checkpoints changed"
write_config odd.yaml odd data/manifest.yaml
set +e
elbo_np 1 train odd.yaml --set model.type=conv_vae --set 'model.channels=[4, 4, 4]' --set 'model.strides=[2, 2, 2]' >odd.log 2>&1; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "model.strides\[2\] = 2: the 3x3 feature map of images 12x12 cannot be halved exactly" odd.log ||
  { cat odd.log; fail "conv shape error"; }
[ ! -e odd/checkpoints ] || fail "conv shape: checkpoints written"
echo PASS
