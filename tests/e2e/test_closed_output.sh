#!/usr/bin/env bash
# Output to a closed pipe does not end a run. After scancel, srun stops forwarding the tasks'
# output while they still write their stop checkpoint; a rank that printed a line then died
# of SIGPIPE (exit code 141), and the batch script took the cancelled job for a failure
# (seen in test_slurm_jobs' scancel case). Here the reader of elbo's output goes away after
# the first line: the run must still train to the end, exit 0 and write all its files, and
# a stop signal that arrives while the output is closed must still give its checkpoint.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 600 14 14 3
write_config c.yaml run data/manifest.yaml
logs=(--set train.log_every=1 --set train.sample_grid=0)

note "1. the reader of the output exits after one line: the run goes on to the end"
set +o pipefail
"$ELBO_BIN" train c.yaml "${logs[@]}" 2>&1 | head -n 1 >first.line
rc=${PIPESTATUS[0]}
set -o pipefail
[ "$rc" = 0 ] || fail "elbo exited with code $rc after its output was closed (141: killed by SIGPIPE)"
[ -f run/COMPLETED ] || fail "no run/COMPLETED: the run did not finish"
[ -f run/checkpoints/ckpt_000000050.h5 ] || fail "no checkpoint of the last step"
[ "$(grep -c '"step"' run/metrics.jsonl)" -ge 50 ] || fail "metrics.jsonl misses steps"

note "2. a stop signal while the output is closed: the stop checkpoint, exit 0"
# Periodic checkpoints off, so that any checkpoint is the one the signal asked for. The
# signal goes once the metrics show training under way (the handlers are installed by then).
( "$ELBO_BIN" train c.yaml --set train.sample_grid=0 --set train.log_every=20 --set run.dir=stopped \
    --set train.steps=1000000 --set train.checkpoint_every=1000000 2>&1 &
  echo $! >elbo.pid
  rc=0
  wait "$(cat elbo.pid)" || rc=$?
  echo $rc >elbo.rc ) | head -n 1 >stopped.first &
for _ in $(seq 1 300); do
  [ -f stopped/metrics.jsonl ] && [ "$(grep -c '"step"' stopped/metrics.jsonl)" -ge 3 ] && break
  [ -s elbo.rc ] && break
  sleep 0.1
done
kill -TERM "$(cat elbo.pid)" 2>/dev/null || true  # (before the fix it could be dead already)
for _ in $(seq 1 600); do [ -s elbo.rc ] && break; sleep 0.1; done
[ "$(cat elbo.rc)" = 0 ] || fail "elbo exited with code $(cat elbo.rc) on SIGTERM with its output closed"
ls stopped/checkpoints/ckpt_*.h5 >/dev/null 2>&1 || fail "no checkpoint after the stop signal"
note "closed output: the run finished, and a stop signal still gave its checkpoint"
