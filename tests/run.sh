#!/usr/bin/env bash
# Builds elbo and runs every test (unit, multi-rank under mpirun, CUDA where a GPU
# is visible, end-to-end), then, on a full run, the sanitizer and fuzzing stages of
# tests/run_sanitizers.sh (ELBO_SKIP_SANITIZERS=1 skips them). Installs the system
# packages it needs on a fresh Debian machine first (idempotent).
# Usage: tests/run.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/lib/install_deps.sh
install_deps build test data slurm  # data: Fashion-MNIST, for the real-data conversion test; slurm: the Slurm tests

build_dir=${ELBO_BUILD_DIR:-build/test}
mkdir -p "$build_dir"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DELBO_CUDA=${ELBO_CUDA:-AUTO} >"$build_dir/configure.log" 2>&1 \
  || { cat "$build_dir/configure.log"; exit 1; }
grep -E "elbo: CUDA backend" "$build_dir/configure.log" || true
cmake --build "$build_dir" -j"$(nproc)"
# Open MPI refuses root without these; oversubscription lets 4 ranks share 2 cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
(cd "$build_dir" && ctest --output-on-failure -j"$(nproc)" "$@")
# A full run (no ctest arguments) goes on with the sanitizer builds and brief fuzzing
# (docs/reliability.md); ELBO_SKIP_SANITIZERS=1 skips them.
[ $# -gt 0 ] || bash tests/run_sanitizers.sh
