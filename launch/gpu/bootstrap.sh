#!/usr/bin/env bash
# Run THERE, on the bare GPU machine (CUDA toolkit, cmake, PyTorch with its NCCL wheel;
# no Open MPI, HDF5, yaml-cpp, OpenBLAS, libpng dev packages, no network), from the repo
# root with .deps/debs/ carried over from fetch_deps.sh:
#   1. unpacks the .debs into .deps/root (never into /) and sources deps_env.sh;
#   2. finds NCCL (the CUDA toolkit's, else the one in PyTorch's nvidia-nccl wheel);
#   3. configures build/gpu with -DELBO_CUDA=ON, builds everything;
#   4. runs ctest: the GPU tests first (label cuda, and the NCCL communicator under
#      mpirun), then the whole suite.
#
# usage: launch/gpu/bootstrap.sh [--keep-root] [--configure-only] [--skip-build]
#                                [--tests=both|gpu|all|none]
#   --keep-root     reuse .deps/root when it is already unpacked
#   --skip-build    only set up the environment and run the tests of an existing build
#   --tests=...     gpu: the GPU tests; all: the whole suite; both (default); none
# env:   ELBO_GPU_BUILD (build dir, default build/gpu), ELBO_CUDA_ARCHS (default 90:
#        the H100/H200; "80;90" builds the A100 code too), ELBO_LOG_DIR (ctest logs),
#        JOBS (parallel build jobs, default: all cores)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
configure_only=0 skip_build=0 keep_root=0 tests=both
for arg in "$@"; do
  case $arg in
    --configure-only) configure_only=1 ;;
    --skip-build) skip_build=1 keep_root=1 ;;
    --keep-root) keep_root=1 ;;
    --tests=both|--tests=gpu|--tests=all|--tests=none) tests=${arg#--tests=} ;;
    *) echo "bootstrap: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
BUILD=${ELBO_GPU_BUILD:-$REPO/build/gpu}
ARCHS=${ELBO_CUDA_ARCHS:-90}
JOBS=${JOBS:-$(nproc)}
LOG_DIR=${ELBO_LOG_DIR:-$BUILD/logs}
ROOT=$REPO/.deps/root
step() { echo; echo "=== bootstrap: $* ($(date +%T))"; }

# ---- 1. dependencies ----
if ((keep_root)) && [[ -d $ROOT/lib-gap ]]; then
  step "reusing $ROOT"
else
  step "unpacking .deps/debs into $ROOT"
  bash "$REPO/launch/gpu/unpack_deps.sh" "$REPO/.deps/debs" "$ROOT"
fi
# shellcheck source=deps_env.sh
. "$REPO/launch/gpu/deps_env.sh" "$ROOT"

# ---- 2. CUDA and NCCL ----
step "locating CUDA and NCCL"
NVCC=${CUDACXX:-$(command -v nvcc || true)}
[[ -z $NVCC && -x /usr/local/cuda/bin/nvcc ]] && NVCC=/usr/local/cuda/bin/nvcc
[[ -n $NVCC ]] || { echo "bootstrap: nvcc not found (set CUDACXX or put the CUDA toolkit's bin on PATH)" >&2; exit 1; }
"$NVCC" --version | tail -2
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi
CUDA_HOME=$(cd "$(dirname "$NVCC")/.." && pwd)

find_nccl() {  # prints "INCLUDE_DIR LIBRARY" of the first NCCL with both header and library
  local dir lib py site inc
  for dir in "$CUDA_HOME" /usr/local/cuda /usr; do
    [[ -e $dir/include/nccl.h ]] || continue
    for lib in "$dir"/lib64/libnccl.so "$dir"/lib/libnccl.so "$dir"/lib/x86_64-linux-gnu/libnccl.so; do
      if [[ -e $lib ]]; then echo "$dir/include $lib"; return 0; fi
    done
  done
  # PyTorch's wheels: site-packages/nvidia/nccl/{include/nccl.h,lib/libnccl.so.2}
  for py in python3 /usr/bin/python3; do
    command -v "$py" >/dev/null || continue
    for site in $("$py" -c 'import site; print(" ".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null); do
      [[ -d $site ]] || continue
      inc=$(find "$site" -maxdepth 5 -path '*nvidia*' -name nccl.h -print -quit 2>/dev/null)
      lib=$(find "$site" -maxdepth 5 -path '*nvidia*' -name 'libnccl.so*' -print -quit 2>/dev/null)
      if [[ -n $inc && -n $lib ]]; then echo "$(dirname "$inc") $lib"; return 0; fi
    done
  done
  return 1
}
read -r NCCL_INC NCCL_LIB < <(find_nccl || true) || true
if [[ -z ${NCCL_INC:-} ]]; then
  echo "bootstrap: NCCL not found (neither in the CUDA toolkit nor in a Python nvidia-nccl wheel)" >&2
  exit 1
fi
echo "NCCL: $NCCL_LIB (headers $NCCL_INC)"
LD_LIBRARY_PATH=$(dirname "$NCCL_LIB"):$LD_LIBRARY_PATH
export LD_LIBRARY_PATH

# ---- 3. configure and build ----
configure_and_build() {
  step "configuring $BUILD (CUDA archs $ARCHS)"
  local generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  if [[ -f $BUILD/CMakeCache.txt ]] && ! grep -qE "^CMAKE_CUDA_ARCHITECTURES:[A-Z]+=$ARCHS\$" "$BUILD/CMakeCache.txt"; then
    rm -rf "$BUILD"  # another arch list: start clean rather than mix
  fi
  cmake -S "$REPO" -B "$BUILD" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DELBO_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$NVCC" \
    -DCMAKE_CUDA_ARCHITECTURES="$ARCHS" \
    -DMPI_C_COMPILER="$ROOT/usr/bin/mpicc" \
    -DMPIEXEC_EXECUTABLE="$ROOT/usr/bin/mpirun" \
    -DHDF5_ROOT="$HDF5_ROOT" \
    -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON \
    -DCBLAS_INCLUDE_DIR="$ROOT/usr/include/x86_64-linux-gnu/openblas-pthread" \
    -DNCCL_INCLUDE_DIR="$NCCL_INC" -DNCCL_LIBRARY="$NCCL_LIB"
  ((configure_only)) && { echo "bootstrap: configured (--configure-only)"; exit 0; }
  step "building with $JOBS jobs"
  cmake --build "$BUILD" -j "$JOBS"
}
if ((skip_build)); then
  [[ -f $BUILD/CMakeCache.txt ]] || { echo "bootstrap: --skip-build, but $BUILD is not configured" >&2; exit 1; }
else
  configure_and_build
fi

# ---- 4. tests ----
[[ $tests == none ]] && { echo "bootstrap: built, tests not run (--tests=none)"; exit 0; }
mkdir -p "$LOG_DIR"
gpu_rc=0 all_rc=0
if [[ $tests == both || $tests == gpu ]]; then
  step "GPU tests: ctest -L cuda, then the NCCL communicator under mpirun"
  (cd "$BUILD" && ctest -L cuda --output-on-failure --timeout 600 2>&1 | tee "$LOG_DIR/ctest_gpu.log") || gpu_rc=$?
  (cd "$BUILD" && ctest -R 'nccl_communicator' --output-on-failure --timeout 600 2>&1 | tee -a "$LOG_DIR/ctest_gpu.log") ||
    gpu_rc=$?
  echo "bootstrap: GPU tests rc=$gpu_rc"
fi
if [[ $tests == both || $tests == all ]]; then
  step "ctest (whole suite)"
  (cd "$BUILD" && ctest -j "$(( JOBS > 8 ? 8 : JOBS ))" --output-on-failure --timeout 900 2>&1 | tee "$LOG_DIR/ctest_all.log") ||
    all_rc=$?
  echo "bootstrap: whole suite rc=$all_rc"
fi
echo "bootstrap: logs in $LOG_DIR"
exit $(( gpu_rc != 0 || all_rc != 0 ))
