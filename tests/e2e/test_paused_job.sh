#!/usr/bin/env bash
# A pause of the whole job is no failure: when every process stops at once (the VM paused
# or starved by its host, a laptop suspended, SIGSTOP to the job), the watchdog and the
# heartbeat must not take the time they themselves were stopped for a frozen peer or a
# hung step. Before the fix, an 8 s pause with dist.timeout_s = 4 and
# dist.peer_timeout_s = 3 aborted the job as soon as it ran again.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 700 14 14 5
write_config paused.yaml paused data/manifest.yaml
sets=(--set train.steps=5000 --set train.checkpoint_every=0 --set train.sample_grid=0 --set train.log_every=100
      --set dist.timeout_s=4 --set dist.peer_timeout_s=3)

set +e
timeout -k 5 300 "$MPIEXEC" -np 2 --oversubscribe "$ELBO_BIN" train paused.yaml "${sets[@]}" >paused.log 2>&1 &
job=$!
set -e
for _ in $(seq 1 600); do  # up to 120 s for the first logged step
  grep -q '"step"' paused/metrics.jsonl 2>/dev/null && break
  sleep 0.2
done
grep -q '"step"' paused/metrics.jsonl 2>/dev/null || { cat paused.log; fail "the job never logged a step"; }
# mpirun and both ranks (their command lines all name the config), as a paused VM would.
pkill -STOP -f "train paused.yaml"
[ ! -f paused/COMPLETED ] || fail "the job finished before the pause: give it more steps"
note "paused at step $(tail -1 paused/metrics.jsonl | sed -n 's/.*"step": *\([0-9]*\).*/\1/p') for 8 s"
sleep 8
pkill -CONT -f "train paused.yaml"
set +e
wait "$job"
rc=$?
set -e
[ "$rc" -eq 0 ] || { cat paused.log; fail "the job ended with code $rc after a pause of every process"; }
! grep -qE "heartbeat|no progress" paused.log || { cat paused.log; fail "a watchdog message after a pause of every process"; }
grep -q "training finished at step 5000" paused.log || { cat paused.log; fail "the job did not finish"; }
echo PASS
