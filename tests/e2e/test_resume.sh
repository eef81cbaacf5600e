#!/usr/bin/env bash
# Exact resume: 2 ranks, 100 steps in one go versus 50 steps, SIGTERM, re-run to 100:
# bitwise identical parameters and Adam moments, identical loss log. Then a 2-rank
# checkpoint resumed on 1 rank sees the same global batches (losses within 1e-4),
# and an external SIGTERM to one rank ends every rank with exit 0 and a checkpoint.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 700 14 14 2 4
sets=(--set train.steps=100 --set train.checkpoint_every=0 --set train.sample_grid=0)

write_config straight.yaml straight data/manifest.yaml
elbo_np 2 train straight.yaml "${sets[@]}" >straight.log 2>&1 || { cat straight.log; fail "straight run"; }

write_config split.yaml split data/manifest.yaml
ELBO_FAULT_AT_STEP=50 ELBO_FAULT_RANK=1 elbo_np 2 train split.yaml "${sets[@]}" >split1.log 2>&1 || { cat split1.log; fail "interrupted run must exit 0"; }
grep -q "stopped by signal at step 50" split1.log || { cat split1.log; fail "no stop message"; }
[ -f split/checkpoints/ckpt_000000050.h5 ] || fail "no checkpoint at the stop"
elbo_np 2 train split.yaml "${sets[@]}" >split2.log 2>&1 || { cat split2.log; fail "resumed run"; }
grep -q "resuming from .*ckpt_000000050.h5" split2.log || { cat split2.log; fail "did not resume"; }
compare_ckpt split/checkpoints/ckpt_000000100.h5 straight/checkpoints/ckpt_000000100.h5 --bitwise --optimizer || fail "resume not bitwise exact"
cmp <(loss_log split/metrics.jsonl) <(loss_log straight/metrics.jsonl) || fail "loss logs differ"

note "2-rank checkpoint resumed on 1 rank"
write_config one.yaml one data/manifest.yaml
ELBO_FAULT_AT_STEP=50 elbo_np 2 train one.yaml "${sets[@]}" >one1.log 2>&1 || fail "first half"
elbo_np 1 train one.yaml "${sets[@]}" >one2.log 2>&1 || { cat one2.log; fail "1-rank resume"; }
"$PY" - straight/metrics.jsonl one/metrics.jsonl <<'PY' || fail "1-rank resume diverged"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert [r["step"] for r in a] == [r["step"] for r in b], "different steps logged"
worst = max(abs(x["loss"] - y["loss"]) / abs(x["loss"]) for x, y in zip(a, b))
print(f"largest relative loss difference {worst:.2e}")
assert worst < 1e-4
PY

note "external SIGTERM to one rank (as scancel / a preemption delivers it)"
write_config ext.yaml ext data/manifest.yaml
"$MPIEXEC" -np 2 --oversubscribe "$ELBO_BIN" train ext.yaml --set train.steps=100000 --set train.checkpoint_every=0 \
  --set train.log_every=5 >ext.log 2>&1 &
launcher=$!
for _ in $(seq 1 3000); do [ -s ext/metrics.jsonl ] && break; sleep 0.1; done  # slow under ASan
[ -s ext/metrics.jsonl ] || { cat ext.log; fail "ext: the job never logged a step (its signal handlers may not be in place)"; }
rank_pid=$(pgrep -P $launcher | head -1)
[ -n "$rank_pid" ] || fail "no rank process found under mpirun"
kill -TERM "$rank_pid"
set +e
wait $launcher
rc=$?
set -e
[ $rc -eq 0 ] || { cat ext.log; fail "external SIGTERM: job exit code $rc, expected 0"; }
grep -q "stopped by signal" ext.log || { cat ext.log; fail "external SIGTERM: no stop message"; }
ls ext/checkpoints/ckpt_*.h5 >/dev/null || fail "external SIGTERM: no checkpoint"
echo PASS
