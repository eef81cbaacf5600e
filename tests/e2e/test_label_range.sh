#!/usr/bin/env bash
# A conditional model's classes are checked before step 1 against the label range that
# `elbo data convert` records per shard in the manifest: one bad label, in a sample that
# training reaches at step 9, in data.train (or data.valid, data.test) stops the run
# before it trains or writes a checkpoint, naming the shard file, the label and
# model.classes. A manifest written before the range (no label_min/label_max) still
# loads; there the bad label stops the run only when its batch is read, after 8 steps
# and their checkpoints: what the range prevents.
source "$ELBO_SRC/tests/e2e/lib.sh"
"$PY" "$ELBO_SRC/tests/e2e/make_labelled_images.py" --out lab --count 1200 --size 12 --classes 4 --seed 3
"$PY" -c '
import numpy as np
labels = np.load("lab_labels.npy")
labels[599] = 9  # a single bad label: the last sample of shard 0, in the batch of step 9
np.save("bad_labels.npy", labels)'
"$ELBO_BIN" data convert --images lab_images.npy --labels bad_labels.npy --out bad --shards 2 >/dev/null
"$ELBO_BIN" data convert --images lab_images.npy --labels lab_labels.npy --out good --shards 1 >/dev/null
grep -q "shard_00000.h5.*label_min: 0, label_max: 9}" bad/manifest.yaml || { cat bad/manifest.yaml; fail "no label range"; }
"$ELBO_BIN" data inspect bad/manifest.yaml >inspect.txt
grep -q "^labels      yes (0..9)$" inspect.txt || { cat inspect.txt; fail "inspect does not show the label range"; }
cond=(--set model.conditional=true --set model.classes=4 --set 'model.hidden=[32]' --set model.latent=4
      --set data.binarize=none --set train.steps=40 --set train.log_every=1 --set train.checkpoint_every=1
      --set train.sample_grid=0)

# train_bad NAME TRAIN TEST [ARGS...]: trains conditional run NAME on 2 ranks, expecting a failure
train_bad() {
  local name=$1 train=$2 test=$3
  shift 3
  write_config $name.yaml $name $train $test
  set +e
  elbo_np 2 train $name.yaml "${cond[@]}" "$@" >$name.log 2>&1
  local rc=$?
  set -e
  [ $rc -ne 0 ] || { cat $name.log; fail "$name: a label out of range was accepted"; }
}

for key in train valid test; do
  note "a bad label in data.$key: refused before step 1"
  case $key in
    train) train_bad $key bad/manifest.yaml "" ;;
    valid) train_bad $key good/manifest.yaml "" --set data.valid=bad/manifest.yaml ;;
    test) train_bad $key good/manifest.yaml bad/manifest.yaml ;;
  esac
  # One message for the job (every rank checks; the first failing rank's error is agreed).
  [ "$(grep -c "data\.$key: bad/shard_00000\.h5 holds label 9, outside 0\.\.3 (model\.classes = 4; .*); raise model\.classes or fix the labels" $key.log)" -eq 1 ] ||
    { cat $key.log; fail "data.$key: expected one error naming the shard, the label and model.classes"; }
  ! grep -q "^step " $key.log || { cat $key.log; fail "data.$key: trained before the error"; }
  [ -z "$(ls $key/checkpoints 2>/dev/null)" ] || fail "data.$key: checkpoints written"
done

note "a manifest without the label range (written before it) still loads"
sed -i -E 's/, label_min: -?[0-9]+, label_max: -?[0-9]+//' bad/manifest.yaml
! grep -q label_ bad/manifest.yaml || fail "could not remove the label range"
train_bad old bad/manifest.yaml ""
grep -q "sample 599 of data.train (bad/shard_00000.h5) has label 9" old.log || { cat old.log; fail "old manifest: no error"; }
grep -q "^step " old.log && [ -n "$(ls old/checkpoints)" ] ||
  { cat old.log; fail "old manifest: the bad label was found before step 1 (the test needs it late)"; }
echo PASS
