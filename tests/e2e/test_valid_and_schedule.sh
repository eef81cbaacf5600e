#!/usr/bin/env bash
# Validation during training and learning-rate schedules (issue 11): with data.valid,
# val_loss/val_recon/val_kl appear in the metrics every train.valid_every steps and the
# checkpoint with the lowest one is kept in run.dir/best (with best.json); a cosine
# schedule with warm-up logs the rates it uses (lr/10 per warm-up step, lr_min at the
# end); a run stopped at step 30 and resumed ends bitwise equal to an uninterrupted one,
# schedule included; `elbo plot` draws validation as a line; `elbo eval` of the best
# checkpoint writes best/eval_step<S>.json, not eval.json; a bad data.valid is an error
# before step 1.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 700 14 14 5
make_dataset valid 150 14 14 6 1
sets=(--set data.valid=valid/manifest.yaml --set train.valid_every=20 --set train.steps=60 --set train.log_every=5
      --set train.checkpoint_every=0 --set train.sample_grid=0 --set train.lr_schedule=cosine
      --set train.lr_warmup_steps=10 --set train.lr_min=0.0001)
write_config a.yaml straight data/manifest.yaml
elbo_np 2 train a.yaml "${sets[@]}" >straight.log 2>&1 || { cat straight.log; fail "train"; }
"$PY" - <<'PY' || fail "metrics"
import json, math
rows = {r["step"]: r for r in map(json.loads, open("straight/metrics.jsonl"))}
for step in (20, 40, 60):
    r = rows[step]
    assert r["val_loss"] is not None and math.isfinite(r["val_loss"]), (step, r)
    assert abs(r["val_loss"] - r["val_recon"] - r["val_kl"]) < 1e-3 * abs(r["val_loss"]), r
assert rows[5]["val_loss"] is None, rows[5]
assert abs(rows[5]["lr"] - 0.002 * 5 / 10) < 1e-9, rows[5]["lr"]
assert abs(rows[10]["lr"] - 0.002) < 1e-9, rows[10]["lr"]
assert abs(rows[60]["lr"] - 0.0001) < 1e-9, rows[60]["lr"]
assert rows[30]["lr"] < rows[20]["lr"] < rows[10]["lr"], [rows[s]["lr"] for s in (10, 20, 30)]
best = json.load(open("straight/best/best.json"))
assert best["val_loss"] == min(rows[s]["val_loss"] for s in (20, 40, 60)) or \
    abs(best["val_loss"] - min(rows[s]["val_loss"] for s in (20, 40, 60))) < 1e-6, best
import os
assert os.path.exists(best["checkpoint"]), best
print("best", best)
PY
grep -q "best validation loss" straight.log || fail "no best-checkpoint line"

note "elbo plot: a validation series is one line, not lone dots at the records that have it"
"$ELBO_BIN" plot straight >plot.log || { cat plot.log; fail "plot"; }
"$PY" - "$ELBO_SRC/tests/e2e" straight/curves.png <<'PY' || fail "the val_loss panel has no line"
import sys
sys.path.insert(0, sys.argv[1])
from png_info import decode
width, height, channels, rows = decode(sys.argv[2])
# val_loss is the sixth panel (after loss, recon, kl, lr, samples/s): the sixth colour
colour = bytes((140, 86, 75))
n = sum(row[i:i + 3] == colour for row in rows for i in range(0, len(row), 3))
print(f"{n} pixels of the val_loss curve")
assert n > 150, "three lone 3x3 dots (27 pixels), not a line through steps 20, 40, 60"
PY

note "eval of the best checkpoint writes into best/ and leaves eval.json alone"
ev=(--set data.test=valid/manifest.yaml --set eval.iw_samples=2)
elbo_np 1 eval a.yaml "${sets[@]}" "${ev[@]}" >eval.log 2>&1 || { cat eval.log; fail "eval"; }
cp straight/eval.json eval_before.json
best=$(ls straight/best/checkpoints/ckpt_*.h5)
step=$(basename "$best" .h5)
elbo_np 1 eval a.yaml "${sets[@]}" "${ev[@]}" --checkpoint "$best" >best_eval.log 2>&1 || { cat best_eval.log; fail "eval best"; }
[ -f "straight/best/eval_step${step#ckpt_}.json" ] || { ls straight/best; fail "no best/eval_step${step#ckpt_}.json"; }
cmp straight/eval.json eval_before.json || fail "eval of the best checkpoint changed eval.json"

note "stopped at step 30 and resumed: bitwise equal, schedule included"
write_config b.yaml resumed data/manifest.yaml
ELBO_FAULT_AT_STEP=30 ELBO_FAULT_SIGNAL=TERM elbo_np 2 train b.yaml "${sets[@]}" >first.log 2>&1 || { cat first.log; fail "first half"; }
grep -q "stopped by signal at step 30" first.log || { cat first.log; fail "no stop at 30"; }
elbo_np 2 train b.yaml "${sets[@]}" >second.log 2>&1 || { cat second.log; fail "resume"; }
compare_ckpt resumed/checkpoints/ckpt_000000060.h5 straight/checkpoints/ckpt_000000060.h5 --bitwise --optimizer ||
  fail "resumed run differs"
cmp <(python3 -c 'import json; print(json.load(open("straight/best/best.json"))["step"])') \
    <(python3 -c 'import json; print(json.load(open("resumed/best/best.json"))["step"])') || fail "best step differs"

note "a bad data.valid fails before step 1"
set +e
elbo_np 2 train a.yaml "${sets[@]}" --set run.dir=bad --set data.valid=valid/nothing.yaml >bad.log 2>&1; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "data.valid: .*valid/nothing.yaml" bad.log || { cat bad.log; fail "bad data.valid"; }
! grep -q "^step " bad.log || fail "trained with a bad data.valid"
echo PASS
