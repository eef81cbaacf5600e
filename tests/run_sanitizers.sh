#!/usr/bin/env bash
# The sanitizer and fuzzing stages of the test command (docs/reliability.md), run by
# tests/run.sh after the normal suite; ELBO_SKIP_SANITIZERS=1 skips them (quick local
# runs), CI runs them. CPU only (sanitizers do not instrument CUDA code).
#   1. ASan + UBSan (clang, build/asan): every unit and MPI test, and the binary end to
#      end on 2 ranks (train, SIGTERM and resume, eval, sample: e2e test_resume and
#      test_train_eval_sample)
#   2. TSan (build/tsan): the tests of the threaded parts: worker pool, data loader
#      (prefetch thread), gradient reducer, stop signals (listener thread), watchdog
#   3. every libFuzzer target for ELBO_FUZZ_SECONDS (default 15) from its seed corpus
# Reports from third-party libraries are suppressed in tests/sanitizers/*.supp, each
# entry with its reason; nothing of elbo's own code is.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${ELBO_SKIP_SANITIZERS:-0}" = 1 ]; then
  echo "sanitizers and fuzzing: skipped (ELBO_SKIP_SANITIZERS=1)"
  exit 0
fi
source launch/lib/install_deps.sh
install_deps build test sanitize

asan=${ELBO_ASAN_DIR:-build/asan}
tsan=${ELBO_TSAN_DIR:-build/tsan}
supp=$PWD/tests/sanitizers
jobs=$(nproc)
export ASAN_OPTIONS=detect_leaks=1
export LSAN_OPTIONS=suppressions=$supp/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

stage_start=$SECONDS
stage() {
  echo "=== $1 ($((SECONDS - stage_start)) s so far)"
}
configure() {  # configure DIR PRESET: the preset's settings in DIR, log shown on failure
  cmake --preset "$2" -B "$1" >"$1.configure.log" 2>&1 || { cat "$1.configure.log"; exit 1; }
}

stage "ASan + UBSan: build"
mkdir -p "$(dirname "$asan")"
configure "$asan" asan
cmake --build "$asan" -j"$jobs"
stage "ASan + UBSan: unit and MPI tests, the binary end to end"
(cd "$asan" && ctest --output-on-failure -j"$jobs" -L unit)
# Open MPI's libraries have no frame pointers: the slower unwinder gives their leaks the
# stacks that tests/sanitizers/lsan.supp matches.
(cd "$asan" && ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0 \
   ctest --output-on-failure -j"$jobs" -R '^mpi\.|^e2e\.test_(resume|train_eval_sample)$')

stage "TSan: build"
configure "$tsan" tsan
cmake --build "$tsan" -j"$jobs" --target elbo_unit_tests watchdog_test
stage "TSan: worker pool, data loader, gradient reducer, stop signals, watchdog"
OPENBLAS_NUM_THREADS=1 "$tsan/tests/elbo_unit_tests" \
  --gtest_filter='WorkerPool.*:ModelThreads*:DataOrder*:EpochPermutation*:DataMemory*:GradReducer.*:StopSignals.*'
mpirun -np 1 "$tsan/tests/watchdog_test"

stage "libFuzzer: every target, ${ELBO_FUZZ_SECONDS:-15} s each"
work=$(mktemp -d)
ELBO_BUILD_DIR=$asan ELBO_FUZZ_WORK=$work launch/fuzz.sh "${ELBO_FUZZ_SECONDS:-15}" ||
  { echo "fuzz findings: inputs and logs in $work" >&2; exit 1; }
rm -rf "$work"
stage "sanitizers and fuzzing: done"
