#!/usr/bin/env bash
# Fuzzing campaigns (docs/reliability.md): runs each libFuzzer target for SECONDS from
# its seed corpus (tests/fuzz/corpus/<target>) and what earlier campaigns added to it
# (<work>/corpus/<target>), then prints the executions per target and the findings.
#   launch/fuzz.sh SECONDS [TARGET...]    targets: config idx npy manifest shard checkpoint
# Env: ELBO_BUILD_DIR  build with the fuzz targets (default build/asan; configured with
#                      the asan preset and built when the targets are missing)
#      ELBO_FUZZ_WORK  grown corpora, findings (<work>/findings/<target>/) and logs
#                      (default runs/fuzz)
#      ELBO_FUZZ_KEEP_GOING=1  go on after a finding (libFuzzer's fork mode, every input
#                      that crashed saved) instead of stopping the target at the first
# The exit status is 1 if anything was found.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: launch/fuzz.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config idx npy manifest shard checkpoint)
build=${ELBO_BUILD_DIR:-build/asan}
work=${ELBO_FUZZ_WORK:-runs/fuzz}

if [ ! -x "$build/tests/fuzz/fuzz_checkpoint" ]; then
  source launch/lib/install_deps.sh
  install_deps build sanitize
  cmake --preset asan -B "$build" >/dev/null
  cmake --build "$build" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}")
fi

# Leaks are findings too. allocator_may_return_null: a huge malloc fails as it does in
# production (libhdf5 then reports an error; C++ new throws bad_alloc, a finding).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0}
export OPENBLAS_NUM_THREADS=1
found=0
printf '%-11s %12s %8s  %s\n' target executions exec/s findings
for t in "${targets[@]}"; do
  mkdir -p "$work/corpus/$t" "$work/findings/$t" "$work/logs"
  log="$work/logs/$t.log"
  rc=0
  # -timeout: an input running 10 s is a hang; -rss_limit_mb/-malloc_limit_mb: a header
  # that makes elbo allocate gigabytes is a finding, not a slow run.
  mode=()
  [ "${ELBO_FUZZ_KEEP_GOING:-0}" = 1 ] && mode=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
  "$build/tests/fuzz/fuzz_$t" "${mode[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$work/findings/$t/" \
    "$work/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  # Executions: the final stats, or (fork mode) the last progress line "#N: ...".
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' ||
          grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' ||
         echo $((${execs:-0} / seconds)))
  findings=$(ls "$work/findings/$t" | wc -l)
  summary="none"
  if [ "$rc" -ne 0 ] || [ "$findings" -gt 0 ]; then
    found=1
    summary="$findings saved in $work/findings/$t (exit $rc): $(grep -m1 -E 'ERROR: |==ERROR|runtime error|terminate called|deadly signal' "$log" || true)"
  fi
  printf '%-11s %12s %8s  %s\n' "$t" "$execs" "$rate" "$summary"
done
[ "$found" -eq 0 ] || { echo "fuzz: findings above; logs in $work/logs" >&2; exit 1; }
