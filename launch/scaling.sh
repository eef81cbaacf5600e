#!/usr/bin/env bash
# Scaling experiment: trains CONFIG on each rank count, strong (fixed global batch) and weak
# (fixed batch per rank), measures the all-reduce on each rank count, and reports.
#
#   launch/scaling.sh --config CONFIG [--ranks "1 2 4"] [--mode strong|weak|both] [--steps 200]
#                     [--warmup 50] [--log-every 10] [--batch B] [--per-rank-batch b]
#                     [--launcher mpirun|srun] [--launcher-args "ARGS"] [--elbo BIN]
#                     [--allreduce-bench BIN] [--plain-mpi] [--compute-ms MS] [--label TEXT] [--out DIR]
#                     [--set KEY=VALUE]...
#
# Per rank count and mode: samples/s, speedup and efficiency against the smallest rank
# count, and the step split into compute, gradient all-reduce wait and data wait (host
# timers of elbo's metrics, averaged over the steps after --warmup). The all-reduce of
# elbo's gradient data plane is timed at each rank count (elbo_allreduce_bench): alpha and
# beta are fitted at the smallest multi-rank count and the alpha-beta model's prediction of
# the step's all-reduce is printed beside the measurement; the model then projects the
# efficiency to 8..1024 H100 GPUs (docs/scaling.md). Writes DIR/scaling.csv, scaling.json,
# projection.csv and scaling.png (default DIR: build/scaling/<config name>). --compute-ms: project
# with that compute time per step (e.g. measured on a GPU) instead of this machine's;
# --plain-mpi: Open MPI's all-reduce instead of the shared-memory one (ELBO_SHM_ALLREDUCE=0).
# Launchers: mpirun (default args from $ELBO_MPIRUN_ARGS, e.g. set by launch/netns_nodes.sh)
# or srun --mpi=pmix inside an allocation. Run from where CONFIG's data paths resolve.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
CONFIG=""
RANKS="1 2 4"
MODE=both
STEPS=200
WARMUP=50
LOG_EVERY=10
BATCH=""
PER_RANK=""
LAUNCHER=mpirun
LAUNCHER_ARGS=${ELBO_MPIRUN_ARGS:-}
ELBO=""
BENCH=""
PLAIN_MPI=0
COMPUTE_MS=""
LABEL=""
OUT=""
SETS=()

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "scaling: $*" >&2; exit 1; }
positive() { [[ $2 =~ ^[0-9]+$ && $2 -gt 0 ]] || die "$1 expects a positive integer, got '$2'"; }
need_value() { [[ $# -ge 2 ]] || die "$1 needs a value (see --help)"; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --config) need_value "$@"; CONFIG=$2; shift 2 ;;
    --ranks) need_value "$@"; RANKS=$2; shift 2 ;;
    --mode) need_value "$@"; [[ $2 =~ ^(strong|weak|both)$ ]] || die "--mode expects strong, weak or both, got '$2'"; MODE=$2; shift 2 ;;
    --steps) need_value "$@"; positive "$1" "$2"; STEPS=$2; shift 2 ;;
    --warmup) need_value "$@"; [[ $2 =~ ^[0-9]+$ ]] || die "--warmup expects an integer >= 0, got '$2'"; WARMUP=$2; shift 2 ;;
    --log-every) need_value "$@"; positive "$1" "$2"; LOG_EVERY=$2; shift 2 ;;
    --batch) need_value "$@"; positive "$1" "$2"; BATCH=$2; shift 2 ;;
    --per-rank-batch) need_value "$@"; positive "$1" "$2"; PER_RANK=$2; shift 2 ;;
    --launcher) need_value "$@"; [[ $2 == mpirun || $2 == srun ]] || die "--launcher expects mpirun or srun, got '$2'"; LAUNCHER=$2; shift 2 ;;
    --launcher-args) need_value "$@"; LAUNCHER_ARGS=$2; shift 2 ;;
    --elbo) need_value "$@"; ELBO=$2; shift 2 ;;
    --allreduce-bench) need_value "$@"; BENCH=$2; shift 2 ;;
    --plain-mpi) PLAIN_MPI=1; shift ;;
    --compute-ms) need_value "$@"; [[ $2 =~ ^[0-9]*\.?[0-9]+$ ]] && [[ ! $2 =~ ^0*\.?0*$ ]] || die "--compute-ms expects a positive number of milliseconds, got '$2'"; COMPUTE_MS=$2; shift 2 ;;
    --label) need_value "$@"; LABEL=$2; shift 2 ;;
    --out) need_value "$@"; OUT=$2; shift 2 ;;
    --set) need_value "$@"; SETS+=(--set "$2"); shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "scaling: unknown argument '$1'" >&2; usage 2 ;;
  esac
done

# ---- arguments ----
[[ -n $CONFIG ]] || die "--config CONFIG is required (e.g. --config configs/fashion_mlp.yaml)"
[[ -f $CONFIG ]] || die "$CONFIG is not a file (relative to $(pwd))"
read -r -a RANK_LIST <<<"$RANKS"
((${#RANK_LIST[@]} >= 1)) || die "--ranks is empty"
for r in "${RANK_LIST[@]}"; do positive "--ranks" "$r"; done
((LOG_EVERY <= STEPS && STEPS % LOG_EVERY == 0)) || die "--steps ($STEPS) must be a multiple of --log-every ($LOG_EVERY)"
((WARMUP % LOG_EVERY == 0 && WARMUP + LOG_EVERY <= STEPS)) ||
  die "--warmup ($WARMUP) must be a multiple of --log-every ($LOG_EVERY) and leave at least one record before --steps ($STEPS)"
if [[ -z $ELBO ]]; then
  ELBO=$(command -v elbo || true)
  [[ -n $ELBO ]] || ELBO=$REPO/build/release/elbo
fi
[[ -x $ELBO ]] || die "no elbo binary at '$ELBO' (build it, or pass --elbo BIN)"
[[ -n $BENCH ]] || BENCH=$(dirname "$ELBO")/elbo_allreduce_bench
[[ -x $BENCH ]] || die "no elbo_allreduce_bench at '$BENCH' (built with elbo when ELBO_BENCH=ON; pass --allreduce-bench BIN)"
[[ $LAUNCHER == srun ]] && ! command -v srun >/dev/null && die "--launcher srun, but srun is not on the PATH"
[[ -n $OUT ]] || OUT=$REPO/build/scaling/$(basename "${CONFIG%.*}")

# The strong batch defaults to the config's train.global_batch (its effective value).
if [[ -z $BATCH ]]; then
  BATCH=$("$ELBO" config check "$CONFIG" "${SETS[@]}" --verbose 2>/dev/null |
    awk '/^[a-z]/ {section=$1} section=="train:" && $1=="global_batch:" {print $2; exit}')
  [[ $BATCH =~ ^[0-9]+$ ]] || die "cannot read train.global_batch of $CONFIG (elbo config check $CONFIG --verbose); pass --batch"
fi
MIN_RANKS=$(printf '%s\n' "${RANK_LIST[@]}" | sort -n | head -1)
[[ -n $PER_RANK ]] || PER_RANK=$((BATCH / MIN_RANKS))
MODES=(strong weak)
[[ $MODE == both ]] || MODES=("$MODE")
for r in "${RANK_LIST[@]}"; do
  [[ $MODE == weak ]] || ((BATCH % r == 0)) || die "strong scaling: rank count $r does not divide the global batch $BATCH (--batch)"
done

export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
((PLAIN_MPI)) && export ELBO_SHM_ALLREDUCE=0

# launch N CMD...: N ranks of CMD with the chosen launcher. mpirun binds each rank to a
# core for up to two ranks; a single rank would then get one core, so it runs unbound
# (docs/training.md, Threads) unless the launcher arguments choose a binding themselves.
launch() {
  local n=$1
  shift
  if [[ $LAUNCHER == srun ]]; then
    # shellcheck disable=SC2086  # LAUNCHER_ARGS is a list of words
    srun --mpi=pmix --kill-on-bad-exit=1 -n "$n" $LAUNCHER_ARGS "$@"
  else
    local bind=""
    ((n == 1)) && [[ $LAUNCHER_ARGS != *--bind-to* ]] && bind="--bind-to none"
    # shellcheck disable=SC2086
    mpirun -np "$n" --oversubscribe $bind $LAUNCHER_ARGS "$@"
  fi
}

mkdir -p "$OUT/runs" "$OUT/logs"
rm -rf "$OUT/runs"/* "$OUT"/allreduce-r*.txt
RUN_COUNT=$((${#RANK_LIST[@]} * ${#MODES[@]}))
echo "scaling: $CONFIG, ranks ${RANK_LIST[*]}, ${MODES[*]} (global batch $BATCH; $PER_RANK per rank when weak)," \
  "$STEPS steps each, first $WARMUP left out; $LAUNCHER ${LAUNCHER_ARGS:-(no extra args)}; results in $OUT"
echo "scaling: load average $(cut -d' ' -f1-3 /proc/loadavg) at start ($(nproc) cores)"

START=$(date +%s)
done_runs=0
eta() {  # the mean time of the runs so far times the runs left
  local spent=$(($(date +%s) - START))
  ((done_runs > 0)) || { echo "--"; return; }
  local left=$((spent * (RUN_COUNT - done_runs) / done_runs))
  printf '%d:%02d' $((left / 60)) $((left % 60))
}

for r in "${RANK_LIST[@]}"; do
  if ((r > 1)); then
    echo "scaling: all-reduce benchmark on $r ranks"
    launch "$r" "$BENCH" --device cpu --min-bytes 4096 --max-bytes $((16 << 20)) --iters 20 \
      >"$OUT/allreduce-r$r.txt" 2>"$OUT/logs/allreduce-r$r.log" ||
      { tail -20 "$OUT/logs/allreduce-r$r.log" >&2; die "the all-reduce benchmark failed on $r ranks (log: $OUT/logs/allreduce-r$r.log)"; }
  fi
  for mode in "${MODES[@]}"; do
    global=$BATCH
    [[ $mode == weak ]] && global=$((PER_RANK * r))
    name=$mode-r$r
    echo "scaling: run $((done_runs + 1))/$RUN_COUNT: $mode, $r rank(s), global batch $global  (eta $(eta))"
    launch "$r" "$ELBO" train "$CONFIG" "${SETS[@]}" --set run.dir="$OUT/runs/$name" --set train.steps="$STEPS" \
      --set train.global_batch="$global" --set train.log_every="$LOG_EVERY" --set train.checkpoint_every=0 \
      --set train.checkpoint_minutes=0 --set train.sample_grid=0 >"$OUT/logs/$name.log" 2>&1 ||
      { tail -20 "$OUT/logs/$name.log" >&2; die "elbo train failed: $mode on $r rank(s) (log: $OUT/logs/$name.log)"; }
    done_runs=$((done_runs + 1))
  done
done
echo "scaling: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(($(date +%s) - START)) s in all"

"$PY" "$REPO/launch/lib/scaling_report.py" "$OUT" --warmup "$WARMUP" --label "$LABEL" ${COMPUTE_MS:+--compute-ms "$COMPUTE_MS"}
"$ELBO" scaling-plot "$OUT" --out "$OUT/scaling.png" --title "${LABEL:+$LABEL: }$CONFIG, ranks ${RANK_LIST[*]}"
