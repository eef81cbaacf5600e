#!/usr/bin/env bash
# The training safeguards (issue 10, docs/training.md "Safeguards"): a skip threshold that
# skips every step raises the alarm at every log line and leaves the weights as they were;
# train.skip_alarm_share sets the share of skipped steps that raises it; the weight average
# and the skip counts survive a resume bitwise, for an hvae also with AdamW, a cosine with
# warm-up and KL warm-up with balancing; evaluation and sampling use the average; Adamax trains.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 640 12 12 3
make_dataset test 100 12 12 4 1
quiet=(--set train.sample_grid=0 --set train.log_every=10)

note "train.skip_threshold below every gradient norm: all steps skipped, an alarm per log line, weights unchanged"
for steps in 10 20; do
  write_config "skip$steps.yaml" "skip$steps" data/manifest.yaml
  elbo_np 2 train "skip$steps.yaml" "${quiet[@]}" --set train.steps=$steps --set train.skip_threshold=1e-6 \
    >"skip$steps.log" 2>&1 || { cat "skip$steps.log"; fail "skip$steps: the run failed"; }
done
[ "$(grep -c "elbo: ALARM: 10 of the 10 steps up to step [12]0 were skipped" skip20.log)" -eq 2 ] ||
  { cat skip20.log; fail "skip20: expected an alarm at each of the 2 log lines"; }
grep -q "every step since step 10 was skipped" skip20.log || { cat skip20.log; fail "skip20: the progress line does not say so"; }
grep -q "raise train.skip_threshold" skip20.log || { cat skip20.log; fail "skip20: the alarm does not say what to change"; }
"$PY" - <<'PY' || fail "skip: the weights moved, or the metrics do not say why"
import json
import h5py, numpy as np
a = h5py.File("skip10/checkpoints/ckpt_000000010.h5", "r")
b = h5py.File("skip20/checkpoints/ckpt_000000020.h5", "r")
for name in a["params"]:
    assert np.array_equal(a["params"][name][()], b["params"][name][()]), name
assert b.attrs["skipped_over_threshold"] == 20 and b.attrs["skipped_nonfinite"] == 0
last = [json.loads(l) for l in open("skip20/metrics.jsonl")][-1]
assert last["skip_alarm"] == 1 and last["skipped_steps"] == 10 and last["skipped_over_threshold"] == 20, last
assert last["loss"] is None, last
PY

note "a threshold no step reaches: nothing skipped, no alarm, the same weights as without one"
write_config plain.yaml plain data/manifest.yaml
elbo_np 2 train plain.yaml "${quiet[@]}" --set train.steps=20 >plain.log 2>&1 || { cat plain.log; fail "plain run"; }
write_config high.yaml high data/manifest.yaml
elbo_np 2 train high.yaml "${quiet[@]}" --set train.steps=20 --set train.skip_threshold=1e9 >high.log 2>&1 ||
  { cat high.log; fail "high run"; }
! grep -q ALARM high.log || { cat high.log; fail "high: an alarm without skipped steps"; }
compare_ckpt high/checkpoints/ckpt_000000020.h5 plain/checkpoints/ckpt_000000020.h5 --bitwise --optimizer ||
  fail "high: a threshold that never triggers changed the training"

# ema_run NAME [args...]: 2 ranks, weight average on, a NaN in rank 1's batch of step 13
# (skipped: the skip count is part of the state a resume must restore).
ema_sets=(--set train.steps=40 --set train.checkpoint_every=10 --set train.ema_decay=0.9 --set data.binarize=none
          --set train.optimizer=adamax "${quiet[@]}")
note "weight average and skip counts: an interrupted and resumed run ends bitwise as an uninterrupted one"
write_config ema.yaml ema data/manifest.yaml test/manifest.yaml
ELBO_FAULT_KIND=nan_batch ELBO_FAULT_AT_STEP=13 ELBO_FAULT_RANK=1 \
  elbo_np 2 train ema.yaml "${ema_sets[@]}" >ema.log 2>&1 || { cat ema.log; fail "ema: uninterrupted run"; }
write_config emastop.yaml emastop data/manifest.yaml test/manifest.yaml
ELBO_FAULT_KIND=nan_batch ELBO_FAULT_AT_STEP=13 ELBO_FAULT_RANK=1 \
  elbo_np 2 train emastop.yaml "${ema_sets[@]}" --set train.steps=20 >emastop.log 2>&1 ||
  { cat emastop.log; fail "emastop: first part"; }
elbo_np 2 train emastop.yaml "${ema_sets[@]}" >emastop2.log 2>&1 || { cat emastop2.log; fail "emastop: resume"; }
grep -q "resuming from .*ckpt_000000020.h5" emastop2.log || { cat emastop2.log; fail "emastop: did not resume"; }
compare_ckpt emastop/checkpoints/ckpt_000000040.h5 ema/checkpoints/ckpt_000000040.h5 --bitwise --optimizer --state ||
  fail "emastop: the resumed run differs (parameters, moments, weight average or skip counts)"
"$PY" - <<'PY' || fail "ema: the checkpoint does not hold the average and the count"
import h5py, numpy as np
f = h5py.File("ema/checkpoints/ckpt_000000040.h5", "r")
assert f.attrs["skipped_nonfinite"] == 1, dict(f.attrs)
assert sorted(f["ema"]) == sorted(f["params"])
assert any(not np.array_equal(f["ema"][n][()], f["params"][n][()]) for n in f["params"]), "average == parameters"
PY

note "skip_alarm_share: one skipped step of 10 (the NaN) raises no alarm at the default 0.25, and one at 0.05"
! grep -q ALARM ema.log || { cat ema.log; fail "ema: an alarm for 1 skipped step of 10"; }
write_config share.yaml share data/manifest.yaml test/manifest.yaml
ELBO_FAULT_KIND=nan_batch ELBO_FAULT_AT_STEP=13 ELBO_FAULT_RANK=1 \
  elbo_np 2 train share.yaml "${ema_sets[@]}" --set train.steps=20 --set train.skip_alarm_share=0.05 >share.log 2>&1 ||
  { cat share.log; fail "share: the run failed"; }
[ "$(grep -c "elbo: ALARM: 1 of the 10 steps up to step 20 were skipped" share.log)" -eq 1 ] && [ "$(grep -c ALARM share.log)" -eq 1 ] ||
  { cat share.log; fail "share: expected one alarm, at step 20"; }

note "hvae (issue 10): weight average, skip counts, AdamW, cosine with warm-up, KL warm-up with balancing: resumed = uninterrupted, bitwise"
# The gradient norm passes 16 at step 19 here (16.5; then at steps 21 and 22), so the
# threshold skips some steps, one of them before the checkpoint of step 20; the
# interrupted run stops at SIGTERM after step 20 (a checkpoint, then exit) and is resumed
# with the same train.steps, so the cosine's length is the uninterrupted run's.
hv_sets=(--set model.type=hvae --set 'model.latents=[4, 8]' --set 'model.group_hidden=[24, 48]' --set train.steps=40
         --set train.checkpoint_every=10 --set train.ema_decay=0.9 --set train.optimizer=adamw --set train.weight_decay=0.01
         --set train.lr_schedule=cosine --set train.lr_warmup_steps=8 --set train.kl_warmup_steps=30
         --set train.kl_balance=true --set train.skip_threshold=16 --set train.skip_alarm_share=1 --set data.binarize=none
         "${quiet[@]}")
for run in hv hvstop; do write_config $run.yaml $run data/manifest.yaml test/manifest.yaml; done
elbo_np 2 train hv.yaml "${hv_sets[@]}" >hv.log 2>&1 || { cat hv.log; fail "hv: uninterrupted run"; }
set +e
ELBO_FAULT_KIND=signal ELBO_FAULT_AT_STEP=20 ELBO_FAULT_RANK=0 elbo_np 2 train hvstop.yaml "${hv_sets[@]}" >hvstop.log 2>&1
set -e
[ -e hvstop/checkpoints/ckpt_000000020.h5 ] && [ ! -e hvstop/checkpoints/ckpt_000000030.h5 ] ||
  { cat hvstop.log; ls hvstop/checkpoints; fail "hvstop: not stopped at step 20"; }
elbo_np 2 train hvstop.yaml "${hv_sets[@]}" >hvstop2.log 2>&1 || { cat hvstop2.log; fail "hvstop: resume"; }
grep -q "resuming from .*ckpt_000000020.h5" hvstop2.log || { cat hvstop2.log; fail "hvstop: did not resume"; }
compare_ckpt hvstop/checkpoints/ckpt_000000040.h5 hv/checkpoints/ckpt_000000040.h5 --bitwise --optimizer --state ||
  fail "hvstop: the resumed hvae differs (parameters, moments, weight average or skip counts)"
"$PY" - <<'PY' || fail "hv: the resumed run's last log line differs (lr schedule, KL weights, skip counts)"
import json
import h5py
a = {r["step"]: r for r in (json.loads(l) for l in open("hv/metrics.jsonl"))}[40]
b = {r["step"]: r for r in (json.loads(l) for l in open("hvstop/metrics.jsonl"))}[40]
for key in ("lr", "loss", "kl_group_0", "kl_group_1", "skipped_over_threshold"):
    assert a[key] == b[key], (key, a[key], b[key])
skipped = h5py.File("hv/checkpoints/ckpt_000000040.h5", "r").attrs["skipped_over_threshold"]
assert 0 < skipped < 40, skipped
# The resume starts from a non-zero count (step 19 skipped: norm 16.5 on the machines seen),
# so a counter restored as 0 would show in the comparison above.
at20 = h5py.File("hvstop/checkpoints/ckpt_000000020.h5", "r").attrs["skipped_over_threshold"]
assert 0 < at20 <= skipped, (at20, skipped)
print("hvae: skipped", at20, "by step 20 and", skipped, "of 40 steps; lr at step 40", a["lr"])
PY

note "elbo eval uses the weight average and says so"
elbo_np 1 eval ema.yaml --set eval.max_images=40 >eval.log 2>&1 || { cat eval.log; fail "eval"; }
grep -q "(step 40, weight average)" eval.log || { cat eval.log; fail "eval: does not name the weight average"; }
grep -q '"weights": "weight average"' ema/eval_step000000040_first40.json || { ls ema; fail "eval: result file lacks weights"; }

note "Adamax trains: the loss of the last interval is below the first's"
"$PY" - ema/metrics.jsonl <<'PY' || fail "adamax: the loss did not go down"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert r[-1]["loss"] < r[0]["loss"], (r[0]["loss"], r[-1]["loss"])
PY
echo "PASS"
