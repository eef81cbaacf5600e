#!/usr/bin/env bash
# What training says and records: one summary line at start (no config dump; --verbose
# prints the effective config), the effective config in run.dir/config.yaml (which loads
# back), metrics with lr as written (0.002, not 0.00200000009), elapsed_s per interval
# and wall_s in total; after a resume between log steps the first record has no rate
# (null) and wall_s continues. Re-running a finished run changes nothing and exits 0;
# raising train.steps continues it; the resume line says "written by 2 ranks" or "1 rank".
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 500 10 10 3 2
write_config c.yaml run data/manifest.yaml
s=(--set train.steps=40 --set train.checkpoint_every=0 --set train.sample_grid=2)

note "stopped at step 13 (between log steps), resumed"
ELBO_FAULT_AT_STEP=13 elbo_np 2 train c.yaml "${s[@]}" >first.log 2>&1 || { cat first.log; fail "first part"; }
cat first.log
[ "$(grep -c "^elbo: run: 2 ranks, replica on .*, objective elbo [(]beta 1[)], 40 steps of 128 images (500 in data.train); effective config in run/config.yaml$" first.log)" = 1 ] ||
  fail "no one-line summary"
! grep -q "effective configuration" first.log || fail "the config is printed without --verbose"
[ "$(grep -vcE "^(elbo: |step )" first.log)" = 0 ] || fail "unexpected output at start"
"$ELBO_BIN" config check run/config.yaml >check.log || { cat check.log; fail "run/config.yaml does not load"; }
grep -q "^  lr: 0.002$" run/config.yaml || fail "config.yaml lacks the effective lr"
elbo_np 2 train c.yaml "${s[@]}" --verbose >second.log 2>&1 || { cat second.log; fail "resume"; }
grep -q "^elbo: effective configuration" second.log && grep -q "^  global_batch: 128" second.log || { cat second.log; fail "--verbose"; }
grep -q "^step 20/40 .* -- samples/s  eta --$" second.log || { cat second.log; fail "first line after the resume shows a rate"; }
grep -Eq "^step 30/40 .* [0-9]+ samples/s  eta " second.log || { cat second.log; fail "later lines lack the rate"; }
"$PY" - run/metrics.jsonl <<'PY' || fail "metrics"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
r = [json.loads(l) for l in lines]
print("\n".join(lines))
assert [x["step"] for x in r] == [10, 20, 30, 40], [x["step"] for x in r]
assert all('"lr": 0.002,' in l for l in lines), "lr not written as 0.002"
assert r[1]["samples_per_s"] is None, "the rate of 7 steps after the resume was logged"
assert all(isinstance(x["samples_per_s"], float) for x in (r[0], r[2], r[3]))
assert all(x["elapsed_s"] > 0 for x in r)
walls = [x["wall_s"] for x in r]
assert walls == sorted(walls) and walls[1] > walls[0], f"wall_s does not grow across the resume: {walls}"
assert abs(r[3]["wall_s"] - r[2]["wall_s"] - r[3]["elapsed_s"]) < 1e-5, "wall_s is not the running total (one instant per record)"
PY

note "re-running the finished run"
snapshot() { (cd run && find . -type f -print0 | sort -z | xargs -0 sha256sum; find . -type f -printf '%p %T@\n' | sort); }
before=$(snapshot)
elbo_np 2 train c.yaml "${s[@]}" >again.log 2>&1 || { cat again.log; fail "re-run exits non-zero"; }
cat again.log
grep -q "^elbo: run is already complete at step 40 (run/COMPLETED); nothing was changed. Use a new run.dir, or raise train.steps above 40" again.log ||
  fail "no 'already complete' message"
[ "$(grep -c . again.log)" = 1 ] || fail "more than one line"
[ "$(snapshot)" = "$before" ] || fail "the finished run was touched"

note "raising train.steps continues it"
elbo_np 1 train c.yaml --set train.steps=50 --set train.checkpoint_every=0 --set train.sample_grid=2 >more.log 2>&1 || { cat more.log; fail "continue"; }
grep -q "resuming from .*ckpt_000000040.h5" more.log && grep -q "training finished at step 50" more.log || { cat more.log; fail "did not continue"; }
[ "$(cat run/COMPLETED)" = "step 50" ] || fail "COMPLETED not updated"
grep -q "written by 2 ranks)" more.log || { cat more.log; fail "the resume line does not say 2 ranks"; }
elbo_np 1 train c.yaml --set train.steps=52 --set train.checkpoint_every=0 --set train.sample_grid=2 >one.log 2>&1 || { cat one.log; fail "continue on 1 rank"; }
grep -q "written by 1 rank)" one.log || { cat one.log; fail "the resume line does not say '1 rank'"; }
echo PASS
