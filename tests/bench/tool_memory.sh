#!/usr/bin/env bash
# Peak memory of the per-image tools: runs `elbo encode` (or score) on N ranks under
# /usr/bin/time and prints each rank's peak resident set, with the output file's size
# and what rank 0 would hold if it kept every row as a double (the tools before they
# streamed their rows). A figure, not a test: docs/benchmarks.md says what it showed.
#
#   tests/bench/tool_memory.sh --checkpoint runs/mnist_hvae_conv/checkpoints/ckpt_000006000.h5 \
#       --data data/mnist/train/manifest.yaml [--ranks "1 2"] [--tool encode] [--elbo build/elbo]
set -euo pipefail
ELBO=${ELBO_BIN:-build/elbo}
ranks="1 2"
tool=encode
checkpoint=""
data=""
while [ $# -gt 0 ]; do
  case $1 in
    --checkpoint) checkpoint=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --tool) tool=$2; shift 2 ;;
    --elbo) ELBO=$2; shift 2 ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "tool_memory.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$checkpoint" ] && [ -n "$data" ] || { echo "tool_memory.sh: --checkpoint and --data are required" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "tool_memory.sh: needs /usr/bin/time (Debian package time)" >&2; exit 2; }
[ -x "$ELBO" ] || { echo "tool_memory.sh: no elbo binary at $ELBO (--elbo PATH)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ending=$([ "$tool" = score ] && echo csv || echo h5)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $ELBO $tool"
for np in $ranks; do
  start=$(date +%s.%N)
  mpirun -np "$np" --oversubscribe /usr/bin/time -f "maxrss_kib %M" "$ELBO" "$tool" --checkpoint "$checkpoint" \
    --data "$data" --out "$out/o$np.$ending" </dev/null >"$out/log$np" 2>&1 || { cat "$out/log$np"; exit 1; }
  secs=$(/usr/bin/python3 -c "import time; print(round(time.time() - $start, 1))")
  rss=$(grep -o "maxrss_kib [0-9]*" "$out/log$np" | awk '{printf "%s%.0f MiB", (NR > 1 ? ", " : ""), $2 / 1024}')
  size=$(stat -c %s "$out/o$np.$ending")
  echo "ranks $np: peak RSS per rank $rss; $secs s; output $((size / 1048576)) MiB" \
       "(as doubles on every rank: $((size * 2 / 1048576)) MiB)"
done
