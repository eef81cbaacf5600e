#!/usr/bin/env bash
# The Slurm job script's logic, with stand-ins for srun (mpirun with the task count)
# and scontrol (records the requeue): a job stopped by a signal requeues itself, the
# requeued job resumes and completes, a completed job does not requeue, and a failing
# job is not requeued.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 600 10 10 21 2
mkdir -p bin
cat >bin/srun <<SH
#!/usr/bin/env bash
while [[ "\$1" == --* ]]; do shift; done  # --kill-on-bad-exit=1 --mpi=pmix
exec "$MPIEXEC" -np "\${SLURM_NTASKS:-2}" --oversubscribe "\$@"
SH
cat >bin/scontrol <<'SH'
#!/usr/bin/env bash
echo "$*" >>scontrol.calls
SH
chmod +x bin/*
export PATH=$PWD/bin:$PATH SLURM_JOB_ID=4242 SLURM_NTASKS=2 CONFIG=c.yaml RUN_DIR=run ELBO=$ELBO_BIN
write_config c.yaml run data/manifest.yaml
export ELBO_ARGS="--set train.steps=60 --set train.checkpoint_every=0 --set train.sample_grid=0"

ELBO_FAULT_AT_STEP=30 bash "$ELBO_SRC/launch/slurm/train.sbatch" >job1.out 2>&1 || { cat job1.out; fail "first job"; }
grep -q "requeue 4242" scontrol.calls || { cat job1.out; fail "a stopped job must requeue"; }
[ ! -f run/COMPLETED ] || fail "COMPLETED written too early"
rm scontrol.calls
bash "$ELBO_SRC/launch/slurm/train.sbatch" >job2.out 2>&1 || { cat job2.out; fail "requeued job"; }
grep -q "resuming from .*ckpt_000000030.h5" job2.out || { cat job2.out; fail "requeued job did not resume"; }
grep -q "training complete: step 60" job2.out || { cat job2.out; fail "no completion"; }
[ ! -f scontrol.calls ] || fail "a completed job must not requeue"
ELBO_ARGS="--set train.lr=-1" bash "$ELBO_SRC/launch/slurm/train.sbatch" >job3.out 2>&1 && fail "bad config must fail the job"
[ ! -f scontrol.calls ] || fail "a failed job must not requeue"
grep -q "not requeued" job3.out || { cat job3.out; fail "no message for the failure"; }
echo PASS
