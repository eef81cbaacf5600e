#!/usr/bin/env bash
# Fault soak: many rounds of "start a 2- or 3-rank run, hit a random rank at a random
# step with a random fault, then resume with the same command", each checked against
# the promises of docs/reliability.md:
#   - the faulty run ends within 60 s (non-zero, or 0 for a stop signal);
#   - every checkpoint left behind loads and verifies;
#   - the resume ends bitwise equal to an uninterrupted run on the same rank count when
#     it runs on that count (the same command), within 1e-5 relative when it runs on
#     another (summation order changes with the split; docs/architecture.md).
#
#   launch/soak.sh [--rounds N] [--seed S] [--each] [--build-dir DIR] [--work DIR] [--keep]
#
# Faults: SIGKILL, SIGSTOP (the next rank's heartbeat watch ends the job;
# dist.peer_timeout_s = 3 here), SIGTERM / SIGUSR1 (a clean stop), SIGKILL inside a
# checkpoint write; --each takes them in turn instead of at random (CI: every fault
# once). Prints one line per round and a summary table (fault, rounds, passed, slowest
# exit); exits non-zero if any round failed, keeping its folder under the work folder
# (default build/soak/) for a look.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=20
SEED=$RANDOM
BUILD="$REPO/build/test"
KEEP=0
EACH=0
WORK=""
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --each) EACH=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
ELBO="$BUILD/elbo"
[ -x "$ELBO" ] || { echo "soak.sh: no binary at $ELBO (build first: tests/run.sh, or --build-dir DIR)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
WORK=${WORK:-$REPO/build/soak}
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK"
RANDOM=$SEED
STEPS=60

/usr/bin/python3 "$REPO/tests/e2e/make_images.py" --out data.npy --count 700 --height 14 --width 14 --seed 5
"$ELBO" data convert --images data.npy --out data --shards 3 >/dev/null
config() {
  cat >"$1.yaml" <<YAML
run: {dir: $1, seed: 7}
data: {train: data/manifest.yaml, binarize: dynamic}
model: {hidden: [64, 32], latent: 8}
train: {global_batch: 120, steps: $STEPS, lr: 0.002, log_every: 5, checkpoint_every: 7, keep_checkpoints: 3,
        sample_grid: 0}
dist: {timeout_s: 30, peer_timeout_s: 3}
YAML
}
for np in 2 3; do
  config ref$np
  mpirun -np $np "$ELBO" train ref$np.yaml >ref$np.log 2>&1 || { cat ref$np.log; exit 1; }
done
final() { echo "$1/checkpoints/ckpt_$(printf '%09d' $STEPS).h5"; }
compare() { /usr/bin/python3 "$REPO/tests/e2e/compare_checkpoints.py" "$@" >/dev/null; }

faults=(KILL STOP TERM USR1 KILL_IN_CHECKPOINT)
declare -A rounds passed slowest
failed=0
for ((i = 1; i <= ROUNDS; i++)); do
  if [ "$EACH" = 1 ]; then fault=${faults[(i - 1) % ${#faults[@]}]}; else fault=${faults[RANDOM % ${#faults[@]}]}; fi
  np=$((2 + RANDOM % 2)) resume_np=$np rank=$((RANDOM % np)) step=$((1 + RANDOM % (STEPS - 2)))
  name=r$i
  ((RANDOM % 4)) || resume_np=$((1 + RANDOM % 3))  # a quarter of the resumes on a random rank count
  match=(--bitwise --optimizer)
  [ "$resume_np" -eq "$np" ] || match=(--rtol 1e-5)
  config "$name"
  env=(ELBO_FAULT_AT_STEP=$step ELBO_FAULT_RANK=$rank ELBO_FAULT_SIGNAL=${fault%%_*})
  [ "$fault" = KILL_IN_CHECKPOINT ] && env+=(ELBO_FAULT_KIND=signal_in_checkpoint ELBO_FAULT_RANK=0) && rank=0
  start=$(date +%s.%N)
  set +e
  env "${env[@]}" timeout -k 5 120 mpirun -np "$np" "$ELBO" train "$name.yaml" >"$name.log" 2>&1
  rc=$?
  set -e
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  verdict=ok
  case $fault in
    TERM|USR1) [ "$rc" -eq 0 ] || verdict="exit $rc after a stop signal" ;;
    *) if [ "$rc" -eq 0 ] && ! grep -q "training finished" "$name.log"; then verdict="exit 0 after $fault"; fi ;;
  esac
  [ "$rc" -ne 124 ] || verdict="hung"
  awk -v s="$secs" 'BEGIN { exit !(s > 60) }' && verdict="took $secs s"
  for f in "$name"/checkpoints/ckpt_*.h5; do
    [ -e "$f" ] || continue
    compare "$f" "$f" --bitwise || verdict="unreadable checkpoint $f"
  done
  if [ "$verdict" = ok ]; then
    mpirun -np "$resume_np" "$ELBO" train "$name.yaml" >"$name.resume.log" 2>&1 || verdict="resume failed"
  fi
  [ "$verdict" != ok ] || compare "$(final "$name")" "$(final "ref$np")" "${match[@]}" ||
    verdict="resume differs from the uninterrupted run (${match[*]})"
  rounds[$fault]=$((${rounds[$fault]:-0} + 1))
  if [ "$verdict" = ok ]; then
    passed[$fault]=$((${passed[$fault]:-0} + 1))
    [ "$KEEP" = 1 ] || rm -rf "$name" "$name".*
  else
    failed=$((failed + 1))
  fi
  awk -v s="$secs" -v m="${slowest[$fault]:-0}" 'BEGIN { exit !(s > m) }' && slowest[$fault]=$secs
  printf 'round %3d  %-19s rank %d of %d at step %2d  exit %3d after %5s s  resumed on %d  %s\n' \
    "$i" "$fault" "$rank" "$np" "$step" "$rc" "$secs" "$resume_np" "$verdict"
done
echo
printf '%-19s %7s %7s %12s\n' fault rounds passed "slowest exit"
for f in "${faults[@]}"; do
  printf '%-19s %7s %7s %11ss\n' "$f" "${rounds[$f]:-0}" "${passed[$f]:-0}" "${slowest[$f]:-0}"
done
echo "seed $SEED; $failed of $ROUNDS rounds failed"
[ "$failed" -eq 0 ]
