#!/usr/bin/env bash
# The fault soak of launch/soak.sh in CI, a few rounds: each fault (SIGKILL, SIGSTOP,
# SIGTERM, SIGUSR1, SIGKILL inside a checkpoint write) once, on a random rank at a random
# step of a 2- or 3-rank run; each must end within 60 s, leave readable checkpoints and
# resume to the uninterrupted run's bits (within 1e-5 on another rank count). Longer
# soaks: launch/soak.sh --rounds 80 (docs/reliability.md).
source "$ELBO_SRC/tests/e2e/lib.sh"
bash "$ELBO_SRC/launch/soak.sh" --rounds 5 --each --seed 11 --build-dir "$(dirname "$ELBO_BIN")" \
  --work "$ELBO_SCRATCH/soak" >soak.log 2>&1 || { cat soak.log; fail "a soak round failed"; }
cat soak.log
grep -q "; 0 of 5 rounds failed" soak.log || fail "the soak did not run its 5 rounds"
echo PASS
