#!/usr/bin/env bash
# elbo sample / reconstruct write where --out says (creating its folders; a folder gets
# the default name), by default next to the checkpoint (<run>/samples_step<S>.png for a
# checkpoint in <run>/checkpoints), and need no CONFIG when the checkpoint holds one.
# The grid's size follows train.sample_grid.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset train 400 10 10 3 2
make_dataset test 100 10 10 4 1
write_config c.yaml run train/manifest.yaml test/manifest.yaml
elbo_np 1 train c.yaml --set train.steps=20 --set train.checkpoint_every=10 >train.log 2>&1 || { cat train.log; fail "train"; }
ckpt=run/checkpoints/ckpt_000000020.h5
# png_size FILE: "WIDTH HEIGHT"
png_size() { "$PY" "$ELBO_SRC/tests/e2e/png_info.py" "$1" | cut -d' ' -f1,2; }

"$ELBO_BIN" sample --checkpoint $ckpt --out pictures/a/samples.png >s1.log 2>&1 || { cat s1.log; fail "sample --out into new folders"; }
grep -q "wrote pictures/a/samples.png" s1.log || { cat s1.log; fail "sample does not say what it wrote"; }
# 4 x 4 tiles of 10 x 10 with 2-pixel borders
[ "$(png_size pictures/a/samples.png)" = "50 50" ] || fail "samples.png is $(png_size pictures/a/samples.png)"

"$ELBO_BIN" sample --checkpoint $ckpt --set train.sample_grid=6 >s2.log 2>&1 || { cat s2.log; fail "sample, default place"; }
[ "$(png_size run/samples_step000000020.png)" = "74 74" ] || { ls run; fail "default sample file"; }

"$ELBO_BIN" sample c.yaml --checkpoint run/checkpoints/ckpt_000000010.h5 --out pictures/ >s3.log 2>&1 || { cat s3.log; fail "sample with CONFIG, --out DIR/"; }
[ -f pictures/samples_step000000010.png ] || { ls pictures; fail "--out DIR/: default name inside"; }

"$ELBO_BIN" reconstruct c.yaml --out recon.png >r1.log 2>&1 || { cat r1.log; fail "reconstruct (newest checkpoint)"; }
grep -q "ckpt_000000020.h5" r1.log || { cat r1.log; fail "reconstruct did not use the newest checkpoint"; }
# 2 rows of 4 test images, each followed by its reconstructions: 4 rows of 4 tiles
[ "$(png_size recon.png)" = "50 50" ] || fail "recon.png is $(png_size recon.png)"
"$ELBO_BIN" reconstruct --checkpoint $ckpt >r2.log 2>&1 || { cat r2.log; fail "reconstruct without CONFIG"; }
[ -f run/reconstructions_step000000020.png ] || fail "default reconstruction file"

note "a checkpoint outside a run folder: pictures next to it"
mkdir loose && cp $ckpt loose/
"$ELBO_BIN" sample --checkpoint loose/ckpt_000000020.h5 >s4.log 2>&1 || { cat s4.log; fail "loose checkpoint"; }
[ -f loose/samples_step000000020.png ] || { ls loose; fail "not next to the loose checkpoint"; }

note "a model that does not match the checkpoint"
set +e
"$ELBO_BIN" sample c.yaml --checkpoint $ckpt --set model.latent=3 >bad.log 2>&1; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "another model" bad.log || { cat bad.log; fail "model mismatch not refused"; }
echo PASS
