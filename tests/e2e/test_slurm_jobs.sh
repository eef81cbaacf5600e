#!/usr/bin/env bash
# The Slurm job scripts under a real Slurm (tests/e2e/slurm_cluster.sh: slurmctld and two
# slurmd on this host), every job through sbatch, srun --mpi=pmix, scancel and scontrol:
#  1. a 2-task job (one task on each node) trains and completes, bitwise equal to mpirun;
#  2. a job whose tasks get SIGTERM (scancel --signal=TERM: what a pre-emption sends)
#     checkpoints, requeues itself, resumes and ends bitwise equal to the straight run;
#  3. a real pre-emption (a job of a higher-priority partition needs the nodes) does the same;
#  4. the warning signal of --signal=B:USR1@N (sent as Slurm sends it, to the batch shell
#     only: scancel --batch --signal=USR1) does the same;
#  5. scancel of a running job leaves a checkpoint from which the run ends bitwise equal;
#  6. the GPU template schedules one task per (stand-in) GPU and completes;
#  7. srun without an MPI plugin (--mpi=none) fails at once with a message, trains nothing,
#     and the job script does not requeue it;
#  8. LAUNCH=mpirun: Open MPI's mpirun inside the allocation starts the ranks instead of srun.
# To land the signals mid-run every time, the interrupted jobs' rank 0 stops itself (SIGSTOP,
# elbo's fault injection) after step 40, where the test delivers the signal through Slurm and
# then SIGCONT (scancel --signal=CONT; a pre-emption and scancel send SIGCONT themselves).
# The real time limit is in test_slurm_timelimit.sh. Skips (77) where Slurm cannot start.
source "$ELBO_SRC/tests/e2e/lib.sh"
source "$ELBO_SRC/tests/e2e/slurm_cluster.sh"
slurm_start 2 2

make_dataset data 600 10 10 21 2
write_config c.yaml ref data/manifest.yaml
STEPS=300
sets="--set train.steps=$STEPS --set train.checkpoint_every=0 --set train.sample_grid=0 --set train.log_every=20"
# shellcheck disable=SC2086
elbo_np 2 train c.yaml $sets >ref.log 2>&1 || { cat ref.log; fail "reference run under mpirun"; }
REF=ref/checkpoints/ckpt_$(printf %09d $STEPS).h5
export CONFIG=c.yaml ELBO=$ELBO_BIN ELBO_ARGS="$sets"
CPU_SBATCH=$ELBO_SRC/launch/slurm/train.sbatch

# submit RUN_DIR [sbatch options...]: a 2-task job (one per node) of the CPU template
submit() {
  local dir=$1
  shift
  RUN_DIR=$dir sbatch --parsable --nodes=2 --ntasks-per-node=1 --output="$dir.out" "$@" "$CPU_SBATCH"
}
# finished JOB RUN_DIR RESTARTS: the job completed after RESTARTS requeues, equal to the reference
finished() {
  local job=$1 dir=$2 restarts=$3
  slurm_wait_state "$job" 'COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|PREEMPTED' 90 || { cat "$dir.out"; fail "$dir: job $job did not end"; }
  [ "$(slurm_job_field "$job" JobState)" = COMPLETED ] || { cat "$dir.out"; fail "$dir: job $job ended $(slurm_job_field "$job" JobState)"; }
  [ "$(slurm_job_field "$job" Restarts)" = "$restarts" ] || { cat "$dir.out"; fail "$dir: $(slurm_job_field "$job" Restarts) restarts, expected $restarts"; }
  grep -q "training complete: step $STEPS" "$dir.out" || { cat "$dir.out"; fail "$dir: no completion in the job's output"; }
  compare_ckpt "$dir/checkpoints/ckpt_$(printf %09d $STEPS).h5" "$REF" --bitwise --optimizer \
    || fail "$dir: final parameters differ from the uninterrupted mpirun run"
}
# stopped_and_resumed RUN_DIR: the output shows the stop, the requeue and the resume from the stop's checkpoint
stopped_and_resumed() {
  local dir=$1 ckpt
  ckpt=$(sed -n 's/^elbo: checkpoint \(.*\) (stop signal)$/\1/p' "$dir.out" | head -1)
  [ -n "$ckpt" ] || { cat "$dir.out"; fail "$dir: no checkpoint at the stop"; }
  grep -q "requeueing job" "$dir.out" || { cat "$dir.out"; fail "$dir: the job did not requeue itself"; }
  grep -q "restart 1)" "$dir.out" || { cat "$dir.out"; fail "$dir: no second run in the job's output"; }
  grep -qF "elbo: resuming from $ckpt" "$dir.out" || { cat "$dir.out"; fail "$dir: the requeued job did not resume from $ckpt"; }
  note "$dir: stopped at $(basename "$ckpt"), requeued, resumed, completed"
}
# submit_paused RUN_DIR [sbatch options...]: submit, and wait until rank 0 has stopped itself after step 40
submit_paused() {
  local dir=$1 job
  job=$(ELBO_FAULT_KIND=signal ELBO_FAULT_SIGNAL=STOP ELBO_FAULT_AT_STEP=40 ELBO_FAULT_RANK=0 submit "$@")
  for _ in $(seq 1 300); do
    grep -q '"step": *40\b' "$dir/metrics.jsonl" 2>/dev/null && break
    sleep 0.2
  done
  grep -q '"step": *40\b' "$dir/metrics.jsonl" || { cat "$dir.out"; fail "$dir: the job never reached step 40"; }
  echo "$job"
}

note "1. a 2-task job on 2 nodes trains and completes"
job=$(submit plain)
finished "$job" plain 0
grep -q "2 task(s) on 2 node(s)" plain.out || { cat plain.out; fail "not 2 tasks on 2 nodes"; }
grep -q "2 ranks" plain.out || { cat plain.out; fail "elbo did not see 2 ranks"; }
! grep -q "requeueing" plain.out || fail "a completed job must not requeue"

note "2. SIGTERM to the tasks (as a pre-emption sends it): checkpoint, requeue, resume"
job=$(submit_paused term)
scancel --signal=TERM "$job"
scancel --signal=CONT "$job"
finished "$job" term 1
stopped_and_resumed term

note "3. a real pre-emption by a job of the higher-priority partition"
job=$(submit_paused preempted)
urgent=$(sbatch --parsable --partition=urgent --nodes=2 --ntasks-per-node=2 --output=urgent.out --wrap "sleep 1")
slurm_wait_state "$urgent" COMPLETED 60 || { cat preempted.out; fail "the pre-empting job did not run"; }
finished "$job" preempted 1
stopped_and_resumed preempted

note "4. the time-limit warning (--signal=B:USR1@N) as Slurm delivers it: SIGUSR1 to the batch shell"
job=$(submit_paused warned)
scancel --batch --signal=USR1 "$job"
for _ in $(seq 1 100); do grep -q "SIGUSR1 at" warned.out && break; sleep 0.1; done
scancel --signal=CONT "$job"
finished "$job" warned 1
stopped_and_resumed warned
grep -q "SIGUSR1 at .*asking the tasks to checkpoint" warned.out || { cat warned.out; fail "the script did not pass SIGUSR1 on"; }

note "5. scancel: the job ends cancelled, with a checkpoint that finishes the run exactly"
job=$(submit_paused cancelled)
scancel "$job"
slurm_wait_state "$job" CANCELLED 60 || fail "scancel"
# The state is CANCELLED as soon as scancel returns; the batch shell reports its decision later.
slurm_wait_text cancelled.out 'elbo job [0-9]+: (cancelled|stopped before the end|elbo exited)' 45 \
  || { cat cancelled.out; fail "the batch script did not report how the cancelled job ended"; }
for _ in $(seq 1 100); do [ -z "$(squeue -h -j "$job" -o %i 2>/dev/null)" ] && break; sleep 0.2; done
ckpt=$(latest_ckpt cancelled)
[ -n "$ckpt" ] && [ ! -f cancelled/COMPLETED ] || { cat cancelled.out; fail "no checkpoint after scancel"; }
grep -q "stopped by signal at step" cancelled.out || { cat cancelled.out; fail "elbo did not stop on the signal"; }
grep -q "cancelled (state .*): not requeued" cancelled.out && [ "$(slurm_job_field "$job" Restarts)" = 0 ] \
  || { cat cancelled.out; fail "a cancelled job must stay cancelled"; }
# shellcheck disable=SC2086
elbo_np 2 train c.yaml $sets --set run.dir=cancelled >cancelled.resume.log 2>&1 || { cat cancelled.resume.log; fail "resume after scancel"; }
grep -qF "resuming from $ckpt" cancelled.resume.log || { cat cancelled.resume.log; fail "did not resume from $ckpt"; }
compare_ckpt "cancelled/checkpoints/ckpt_$(printf %09d $STEPS).h5" "$REF" --bitwise --optimizer || fail "resume after scancel differs"
note "cancelled at $(basename "$ckpt"); resumed under mpirun to the same parameters"

note "6. the GPU template: one task per GPU (stand-in GPUs; the CPU backend trains)"
# (One task per node: the two nodes share this host, where Open MPI's shared-memory files of
# two nodes' local ranks would collide.)
job=$(RUN_DIR=gpu ELBO_ARGS="$sets --set train.steps=100" sbatch --parsable --nodes=2 --gpus-per-node=1 --ntasks-per-node=1 --cpus-per-task=1 \
  --output=gpu.out "$ELBO_SRC/launch/slurm/train_gpu.sbatch")
slurm_wait_state "$job" 'COMPLETED|FAILED|CANCELLED' 90 || { cat gpu.out; fail "GPU template job did not end"; }
[ "$(slurm_job_field "$job" JobState)" = COMPLETED ] || { cat gpu.out; fail "GPU template job failed"; }
grep -q "2 task(s) on 2 node(s)" gpu.out && grep -q "2 ranks" gpu.out && grep -q "training complete: step 100" gpu.out \
  || { cat gpu.out; fail "GPU template: not 2 ranks to completion"; }
grep -q "1 GPU(s) per node" gpu.out || { cat gpu.out; fail "GPU template: the job did not get a GPU per node"; }
cmp <(sed -n '/^# ---- the lines below/,$p' "$CPU_SBATCH") <(sed -n '/^# ---- the lines below/,$p' "$ELBO_SRC/launch/slurm/train_gpu.sbatch") \
  || fail "train.sbatch and train_gpu.sbatch differ below their marker line"

note "7. srun without an MPI plugin: a clear failure, no training, no requeue"
set +e
srun --nodes=2 --ntasks=2 --mpi=none "$ELBO_BIN" train c.yaml $sets --set run.dir=nompi >nompi.log 2>&1
rc=$?
set -e
[ $rc -ne 0 ] || { cat nompi.log; fail "2 tasks without MPI wiring must fail, not train as singletons"; }
[ ! -d nompi/checkpoints ] || fail "tasks without MPI wiring trained"
# elbo checks the launch itself (before MPI_Init, src/dist/mpi_context.cc) and names the
# way out, once (Slurm's task 0): MPIs that would start N singletons get the same message.
[ "$(grep -c "srun --mpi=pmix" nompi.log)" = 1 ] || { cat nompi.log; fail "elbo's message does not name srun --mpi=pmix once"; }
grep -q "mpirun inside the allocation" nompi.log || { cat nompi.log; fail "elbo's message does not name mpirun"; }
note "elbo: $(grep -m1 "srun --mpi=pmix" nompi.log)"
job=$(LAUNCH="srun --mpi=none" submit nompijob)
slurm_wait_state "$job" 'COMPLETED|FAILED|CANCELLED' 60 || fail "job without MPI wiring did not end"
[ "$(slurm_job_field "$job" JobState)" = FAILED ] && [ "$(slurm_job_field "$job" Restarts)" = 0 ] \
  || { cat nompijob.out; fail "a job whose tasks cannot start MPI must fail without a requeue"; }
grep -q "not requeued" nompijob.out || { cat nompijob.out; fail "no 'not requeued' message"; }

note "8. mpirun inside the allocation instead of srun"
job=$(LAUNCH=mpirun ELBO_ARGS="$sets --set train.steps=100" submit mpirun)
slurm_wait_state "$job" 'COMPLETED|FAILED|CANCELLED' 60 || { cat mpirun.out; fail "mpirun job did not end"; }
[ "$(slurm_job_field "$job" JobState)" = COMPLETED ] && grep -q "2 ranks" mpirun.out \
  && grep -q "training complete: step 100" mpirun.out || { cat mpirun.out; fail "mpirun inside the job"; }
echo PASS
