#!/usr/bin/env bash
# The conv VAE (stride-2 and stride-1 convolutions, transposed convolutions, views),
# assembled from graph layers with no hand-written backward, keeps the data-parallel
# promises of the MLP, and so do the conditional models (labels into encoder and decoder),
# conv and MLP, and the VampPrior (learned pseudo-inputs encoded in every step): 1 rank x
# 128, 2 x 64 and 4 x 32 reach the same parameters after 50 steps (1e-5 relative); a
# repeat is bitwise identical; 1, 2 and 3 threads on one rank are bitwise identical
# (oneDNN convolutions and GEMMs over fixed batch chunks). The VampPrior model then
# evaluates (its IW NLL bounds its negative ELBO) and samples from its mixture.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 1000 14 14 1
"$PY" "$ELBO_SRC/tests/e2e/make_labelled_images.py" --out lab --count 1000 --size 12 --classes 4 --seed 5
"$ELBO_BIN" data convert --images lab_images.npy --labels lab_labels.npy --out labelled --shards 3 >/dev/null
quiet=(--set train.checkpoint_every=0 --set train.sample_grid=0)
conv=(--set model.type=conv_vae --set 'model.channels=[8, 16]' --set 'model.strides=[2, 1]' "${quiet[@]}")
cond=(--set model.conditional=true --set model.classes=4)

# equivalent NAME DATA ARGS...: the promises above for one model, in folder NAME
equivalent() {
  local name=$1 data=$2 np t
  shift 2
  mkdir -p "$name"
  (
    cd "$name"
    for np in 1 2 4; do
      write_config c$np.yaml run$np "../$data/manifest.yaml"
      elbo_np $np train c$np.yaml "$@" >log$np.txt 2>&1 || { cat log$np.txt; fail "$name: train on $np ranks"; }
    done
    for np in 2 4; do
      note "$name: 1 rank vs $np ranks"
      compare_ckpt run$np/checkpoints/ckpt_000000050.h5 run1/checkpoints/ckpt_000000050.h5 --rtol 1e-5 ||
        fail "$name: $np ranks differ from 1 rank"
    done
    note "$name: repeat of the 2-rank run"
    write_config c2r.yaml run2r "../$data/manifest.yaml"
    elbo_np 2 train c2r.yaml "$@" >log2r.txt 2>&1 || fail "$name: repeat"
    compare_ckpt run2r/checkpoints/ckpt_000000050.h5 run2/checkpoints/ckpt_000000050.h5 --bitwise --optimizer ||
      fail "$name: repeat not bitwise identical"
    note "$name: 1 rank on 1, 2 and 3 threads"
    for t in 1 2 3; do
      write_config t$t.yaml threads$t "../$data/manifest.yaml"
      ELBO_CPU_THREADS=$t "$MPIEXEC" -np 1 --bind-to none "$ELBO_BIN" train t$t.yaml "$@" --set train.steps=20 \
        >logt$t.txt 2>&1 || { cat logt$t.txt; fail "$name: train on $t threads"; }
    done
    grep -q "3 threads" logt3.txt || fail "$name: the 3-thread run did not use 3 threads: $(grep 'replica on' logt3.txt)"
    for t in 2 3; do
      compare_ckpt threads$t/checkpoints/ckpt_000000020.h5 threads1/checkpoints/ckpt_000000020.h5 --bitwise --optimizer ||
        fail "$name: $t threads differ from 1 thread"
    done
  ) || exit 1
}

equivalent conv data "${conv[@]}"
equivalent conditional_conv labelled "${conv[@]}" "${cond[@]}"
equivalent conditional_mlp labelled "${cond[@]}" "${quiet[@]}"
vamp=(--set model.prior=vamp --set model.pseudo_inputs=16 "${quiet[@]}")
equivalent vamp data "${vamp[@]}"
note "vamp: eval and sample"
(
  cd vamp
  write_config e.yaml run2 ../data/manifest.yaml ../data/manifest.yaml
  elbo_np 2 eval e.yaml "${vamp[@]}" --set eval.max_images=200 >eval.log 2>&1 || { cat eval.log; fail "vamp: eval"; }
  "$PY" - run2/eval_step000000050_first200.json <<'PY' || { cat eval.log; fail "vamp: eval results"; }
import json, sys
e = json.load(open(sys.argv[1]))
assert e["images"] == 200 and e["iw_nll"] <= e["test_nelbo"] + 0.5, e
PY
  "$ELBO_BIN" sample --checkpoint run2/checkpoints/ckpt_000000050.h5 --out vamp_samples.png >sample.log 2>&1 ||
    { cat sample.log; fail "vamp: sample"; }
  [ -s vamp_samples.png ] || fail "vamp: no samples"
) || exit 1
echo PASS
