#!/usr/bin/env bash
# A real time limit under a real Slurm (tests/e2e/slurm_cluster.sh): a job of
# launch/slurm/train.sbatch with --time=2 --signal=B:USR1@30 gets the warning signal from
# Slurm (due 90 s after the start; the controller looks about every 30 s and may send it up
# to a minute early, so it comes between 30 and 90 s: never before step 40, which a warning
# of --time=1 --signal=B:USR1@58 could beat on a loaded machine);
# the script passes it to the task, which checkpoints; the job requeues itself and the next
# run resumes and completes, bitwise equal to an uninterrupted run.
# So that the run is still going when the warning comes (and burns no CPU while it waits),
# the task stops itself (SIGSTOP, elbo's fault injection) after step 40; once the script has
# the warning, the test sends SIGCONT through Slurm (scancel --signal=CONT).
# Skips (77) where Slurm cannot start.
source "$ELBO_SRC/tests/e2e/lib.sh"
source "$ELBO_SRC/tests/e2e/slurm_cluster.sh"
slurm_start 1 2

make_dataset data 600 10 10 21 2
write_config c.yaml ref data/manifest.yaml
sets="--set train.steps=100 --set train.checkpoint_every=0 --set train.sample_grid=0"
# shellcheck disable=SC2086
elbo_np 1 train c.yaml $sets >ref.log 2>&1 || { cat ref.log; fail "reference run"; }

export CONFIG=c.yaml RUN_DIR=run ELBO=$ELBO_BIN ELBO_ARGS="$sets"
job=$(ELBO_FAULT_KIND=signal ELBO_FAULT_SIGNAL=STOP ELBO_FAULT_AT_STEP=40 \
  sbatch --parsable --nodes=1 --ntasks-per-node=1 --time=2 --signal=B:USR1@30 --output=job.out "$ELBO_SRC/launch/slurm/train.sbatch")
note "job $job: --time=2 --signal=B:USR1@30, waiting for Slurm's warning"
t0=$SECONDS
for _ in $(seq 1 900); do  # 180 s
  grep -q "SIGUSR1 at" job.out 2>/dev/null && break
  sleep 0.2
done
grep -q "SIGUSR1 at" job.out || { cat job.out; fail "no warning signal from Slurm within 180 s"; }
note "warned after $((SECONDS - t0)) s"
scancel --signal=CONT "$job"

slurm_wait_state "$job" 'COMPLETED|FAILED|CANCELLED|TIMEOUT' 90 || { cat job.out; fail "the requeued job did not end"; }
cat job.out
[ "$(slurm_job_field "$job" JobState)" = COMPLETED ] || fail "job ended $(slurm_job_field "$job" JobState)"
[ "$(slurm_job_field "$job" Restarts)" = 1 ] || fail "$(slurm_job_field "$job" Restarts) restarts, expected 1"
ckpt=$(sed -n 's/^elbo: checkpoint \(.*\) (stop signal)$/\1/p' job.out | head -1)
[ -n "$ckpt" ] || fail "no checkpoint on the warning signal"
grep -q "requeueing job $job" job.out || fail "the job did not requeue itself"
grep -qF "elbo: resuming from $ckpt" job.out || fail "the requeued job did not resume from $ckpt"
grep -q "training complete: step 100" job.out || fail "no completion"
! grep -q "DUE TO TIME LIMIT" job.out || fail "the job ran into its time limit: the warning came too late"
compare_ckpt run/checkpoints/ckpt_000000100.h5 ref/checkpoints/ckpt_000000100.h5 --bitwise --optimizer \
  || fail "final parameters differ from the uninterrupted run"
echo PASS
