#!/usr/bin/env bash
# One command for a GPU machine: build, GPU tests, the whole suite, a GPU benchmark.
# Logs go to $OUT when it is set (the device tool brings that folder back, at most 8
# files), else to build/gpu/logs: summary.txt, build.log, driver.log, ctest_gpu.log,
# ctest_all.log, bench.log, bench.jsonl. Stages run in the order given; a failing stage is reported and the
# next one still runs; the exit code is non-zero if any stage failed.
#
# usage: launch/gpu/run_gpu_suite.sh [STAGE...]     (default: build gpu-tests suite bench)
#   build      unpack .deps/debs (carried from fetch_deps.sh), configure, build (bootstrap.sh)
#   gpu-tests  ctest -L cuda and the NCCL communicator test under mpirun
#   suite      the whole ctest suite
#   bench      train the MLP VAE of configs/fashion_mlp.yaml on cuda:0 (synthetic images),
#              FP32/TF32/BF16 GEMMs at global batch 128 and 1024 (graph-replayed steps, and
#              FP32 at 128 eager too), plus one CPU run for scale;
#              PyTorch eager and torch.compile on the same GPU (tests/bench/torch_vae_gpu.py);
#              NCCL all-reduce bandwidth (elbo_allreduce_bench)
# One device call may run 10 minutes: split the stages over calls when needed, e.g.
#   launch/gpu/run_gpu_suite.sh build gpu-tests    then    launch/gpu/run_gpu_suite.sh suite bench
# (a warm machine keeps build/gpu and .deps/root between calls).
# env: BENCH_STEPS (default 1100, of which the first 100 are warm-up), and bootstrap.sh's.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO" || exit 1
BUILD=${ELBO_GPU_BUILD:-$REPO/build/gpu}
LOG=${OUT:-$BUILD/logs}
mkdir -p "$LOG"
export ELBO_GPU_BUILD=$BUILD ELBO_LOG_DIR=$LOG
stages=("$@")
((${#stages[@]})) || stages=(build gpu-tests suite bench)
SUMMARY=$LOG/summary.txt
: >"$SUMMARY"
record() { echo "$(date +%T) $1: $2" | tee -a "$SUMMARY"; }

keep_root=()
[[ -d $REPO/.deps/root/lib-gap ]] && keep_root=(--keep-root)

bench() {
  # shellcheck source=deps_env.sh
  . "$REPO/launch/gpu/deps_env.sh" || return 1
  local elbo=$BUILD/elbo work=$BUILD/bench steps=${BENCH_STEPS:-1100} warmup=100 py candidate
  [[ -x $elbo ]] || { echo "bench: $elbo is not built (run the build stage first)"; return 1; }
  py=""
  for candidate in python3 /usr/bin/python3; do  # the first with numpy, for the synthetic images
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import numpy' 2>/dev/null; then py=$candidate; break; fi
  done
  [[ -n $py ]] || { echo "bench: needs a python3 with numpy (for the synthetic images)"; return 1; }
  mkdir -p "$work"
  # 60000 random 28x28 images: the rate does not depend on what the pixels show.
  "$py" -c "import numpy as np; np.save('$work/images.npy', np.random.default_rng(0).integers(0, 256, (60000, 1, 28, 28), dtype=np.uint8))" ||
    return 1
  "$elbo" data convert --images "$work/images.npy" --out "$work/data" --shards 4 --overwrite || return 1
  local results=$LOG/bench.jsonl rc=0 device precision batch run rate
  : >"$results"
  # device:precision:batch:graph (graph: the step replayed as a CUDA graph, or eager)
  for spec in cuda:fp32:128:true cuda:fp32:128:false cuda:tf32:128:true cuda:bf16:128:true \
              cuda:fp32:1024:true cuda:tf32:1024:true cuda:bf16:1024:true cpu:fp32:128:false; do
    IFS=: read -r device precision batch graph <<<"$spec"
    run=$work/runs/${device}_${precision}_b${batch}_graph$graph
    rm -rf "$run"
    echo "--- bench: $device $precision global batch $batch, cuda_graph $graph, $steps steps"
    if ! timeout 300 mpirun -np 1 "$elbo" train configs/fashion_mlp.yaml \
        --set run.dir="$run" --set data.train="$work/data/manifest.yaml" --set data.test="$work/data/manifest.yaml" \
        --set train.device="$device" --set train.precision="$precision" --set train.global_batch="$batch" \
        --set train.steps="$steps" --set train.log_every=100 --set train.checkpoint_every=0 --set train.sample_grid=0 \
        --set train.cuda_graph="$graph"; then
      echo "bench: the $spec run failed"
      rc=1
      continue
    fi
    rate=$("$py" tests/bench/bench_report.py elbo-rate "$run" --warmup "$warmup" --batch "$batch") || { rc=1; continue; }
    echo "{\"device\": \"$device\", \"precision\": \"$precision\", \"global_batch\": $batch, \"cuda_graph\": $graph, \"rate\": $rate}" |
      tee -a "$results"
  done
  # The peer on the same GPU: PyTorch eager and torch.compile, same model and batches.
  echo "--- bench: PyTorch on the same GPU"
  python3 tests/bench/torch_vae_gpu.py --batches 128 1024 --steps "$steps" --warmup "$warmup" | tee -a "$results" || rc=1
  # Gradient all-reduce bandwidth of the data plane (nccl-tests style algbw / busbw).
  echo "--- bench: all-reduce bandwidth (NCCL, 1 rank)"
  mpirun -np 1 "$BUILD/elbo_allreduce_bench" --device cuda --backend nccl --min-bytes 65536 --max-bytes 67108864 || rc=1
  return $rc
}

overall=0
for stage in "${stages[@]}"; do
  rc=0
  case $stage in
    build) bash launch/gpu/bootstrap.sh "${keep_root[@]}" --tests=none 2>&1 | tee "$LOG/build.log" || rc=$? ;;
    gpu-tests) bash launch/gpu/bootstrap.sh --skip-build --tests=gpu >>"$LOG/driver.log" 2>&1 || rc=$? ;;
    suite) bash launch/gpu/bootstrap.sh --skip-build --tests=all >>"$LOG/driver.log" 2>&1 || rc=$? ;;
    bench) bench 2>&1 | tee "$LOG/bench.log" || rc=$? ;;
    *) echo "run_gpu_suite: unknown stage '$stage' (build, gpu-tests, suite, bench)" >&2; rc=2 ;;
  esac
  record "$stage" "$( ((rc == 0)) && echo ok || echo "FAILED (rc=$rc)")"
  ((rc == 0)) || overall=1
done
echo "run_gpu_suite: logs in $LOG"
exit $overall
