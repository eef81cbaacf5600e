#!/usr/bin/env bash
# Never hang, lose nothing: a rank that freezes (SIGSTOP) or dies (SIGKILL) mid-run ends the
# whole job with a non-zero code and one message within 60 s on the default config (the
# frozen rank named by its successor's heartbeat watch, dist.peer_timeout_s = 30), a loop
# that makes no progress ends after dist.timeout_s, the checkpoints written before the
# fault stay valid, and the same command resumes from the newest of them to bitwise the
# parameters and optimizer state of an uninterrupted run.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 700 14 14 5
sets=(--set train.steps=60 --set train.checkpoint_every=10 --set train.sample_grid=0)

note "reference: an uninterrupted run"
write_config ref.yaml ref data/manifest.yaml
elbo_np 2 train ref.yaml "${sets[@]}" >ref.log 2>&1 || { cat ref.log; fail "reference run"; }
reference=ref/checkpoints/ckpt_000000060.h5

# faulty_run NAME SIGNAL STEP [--set ...]: 2 ranks, rank 1 raises SIGNAL after STEP; prints "rc seconds".
faulty_run() {
  local name=$1 signal=$2 step=$3 start rc
  shift 3
  write_config "$name.yaml" "$name" data/manifest.yaml
  start=$(date +%s)
  set +e
  ELBO_FAULT_AT_STEP=$step ELBO_FAULT_SIGNAL=$signal ELBO_FAULT_RANK=1 \
    timeout -k 5 120 "$MPIEXEC" -np 2 --oversubscribe "$ELBO_BIN" train "$name.yaml" "${sets[@]}" "$@" >"$name.log" 2>&1
  rc=$?
  set -e
  echo "$rc $(($(date +%s) - start))"
}

# expect_ended NAME RC SECONDS: a non-zero exit, by elbo or mpirun (137 when mpirun reports a
# rank killed by signal 9), not by the test's timeout (124).
expect_ended() {
  [ "$2" -ne 0 ] || { cat "$1.log"; fail "$1: the job exited 0 after a rank failed"; }
  [ "$2" -ne 124 ] && [ "$3" -lt 120 ] || { cat "$1.log"; fail "$1: the job hung (killed by the test after 120 s)"; }
  [ "$3" -le 60 ] || { cat "$1.log"; fail "$1: the job took $3 s to end"; }
}

# once NAME PATTERN: PATTERN printed exactly once (one message for the job, not one per rank).
once() {
  local count
  count=$(grep -cE "$2" "$1.log" || true)
  [ "$count" -eq 1 ] || { cat "$1.log"; fail "$1: expected one message matching '$2', got $count"; }
}

# resumes NAME STEP: the checkpoint of STEP is there and valid, and the same command
# resumes from it and ends bitwise equal to the uninterrupted run.
resumes() {
  local name=$1 step
  step=$(printf '%09d' "$2")
  [ -f "$name/checkpoints/ckpt_$step.h5" ] || { ls -R "$name"; fail "$name: checkpoint of step $2 missing"; }
  [ ! -f "$name/COMPLETED" ] || fail "$name: marked COMPLETED after a failure"
  elbo_np 2 train "$name.yaml" "${sets[@]}" >"$name.resume.log" 2>&1 || { cat "$name.resume.log"; fail "$name: resume"; }
  grep -q "resuming from .*ckpt_$step.h5" "$name.resume.log" || { cat "$name.resume.log"; fail "$name: did not resume from step $2"; }
  grep -q "training finished at step 60" "$name.resume.log" || fail "$name: resumed run did not finish"
  compare_ckpt "$name/checkpoints/ckpt_000000060.h5" "$reference" --bitwise --optimizer ||
    fail "$name: resumed run differs from the uninterrupted one"
}

note "rank 1 freezes (SIGSTOP) after step 25, default config: rank 0's heartbeat watch names rank 1"
read -r rc secs < <(faulty_run frozen STOP 25)
echo "exit $rc after $secs s"
expect_ended frozen "$rc" "$secs"
once frozen "rank 0: rank 1 has sent no heartbeat for [0-9]+ s: it is frozen"
resumes frozen 20

note "the training loop makes no progress (rank 1 frozen, heartbeat off): the watchdog ends it after dist.timeout_s"
read -r rc secs < <(faulty_run hang STOP 25 --set dist.peer_timeout_s=0 --set dist.timeout_s=10)
echo "exit $rc after $secs s"
expect_ended hang "$rc" "$secs"
once hang "rank 0: no progress for .* s at step"
resumes hang 20

note "rank 1 is killed (SIGKILL) after step 15: the job ends"
read -r rc secs < <(faulty_run crash KILL 15)
echo "exit $rc after $secs s"
expect_ended crash "$rc" "$secs"
resumes crash 10
echo PASS
