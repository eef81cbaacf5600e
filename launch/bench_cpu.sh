#!/usr/bin/env bash
# CPU benchmark: elbo against PyTorch DistributedDataParallel (gloo) on the same MLP VAE
# (configs/fashion_mlp.yaml's model, batch, optimiser and data), on this machine;
# --model conv: the same for the conv VAE of configs/fashion_conv.yaml; --model hvae_conv:
# the conv hierarchical VAE of configs/mnist_hvae_conv.yaml (tests/bench/torch_hvae_conv.py).
#
#   launch/bench_cpu.sh [--ranks "1 2"] [--repeats 3] [--steps 300] [--warmup 50]
#                       [--threads N] [--quality] [--epochs 10] [--quality-ranks 2] [--model mlp|conv|hvae_conv] [--build-dir DIR]
#
# Throughput: for each rank count, `--repeats` runs of each framework, alternated
# (elbo, torch, torch, elbo, ... so a drift in the machine's load hits both alike),
# each `--steps` optimiser steps of which the first `--warmup` are left out of the rate;
# the table shows the medians. Threads per rank: cores / ranks for both frameworks, or
# --threads N for both (--threads 1 --ranks 1 compares the per-core cost alone). --quality also trains each for `--epochs` epochs and
# compares their test negative ELBO (one sample, all 10k test images).
# Results: a table on stdout, every run in build/bench-results/cpu.json.
# Methodology and the numbers of this repository's machine: docs/benchmarks.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RANKS="1 2"
REPEATS=3
STEPS=300
WARMUP=50
LOG_EVERY=50
QUALITY=0
MODEL=mlp   # mlp: configs/fashion_mlp.yaml's model; conv: configs/fashion_conv.yaml's
EPOCHS=10
QUALITY_RANKS=2
THREADS=""  # empty: each framework uses cores / ranks threads per rank
BUILD="$REPO/build/bench-cpu"
DATA="$REPO/build/bench-data"
RESULTS="$REPO/build/bench-results"
IDX=/usr/share/datasets/fashion-mnist
PY=/usr/bin/python3  # Debian's python3-torch lives here, not in a pyenv python3

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "bench_cpu: $*" >&2; exit 1; }
positive() { [[ $2 =~ ^[0-9]+$ && $2 -gt 0 ]] || die "$1 expects a positive integer, got '$2'"; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --ranks) RANKS=$2; shift 2 ;;
    --repeats) positive "$1" "$2"; REPEATS=$2; shift 2 ;;
    --steps) positive "$1" "$2"; STEPS=$2; shift 2 ;;
    --warmup) positive "$1" "$2"; WARMUP=$2; shift 2 ;;
    --threads) positive "$1" "$2"; THREADS=$2; shift 2 ;;
    --quality) QUALITY=1; shift ;;
    --model) [[ $2 == mlp || $2 == conv || $2 == hvae_conv ]] || die "--model expects mlp, conv or hvae_conv, got '$2'"
             MODEL=$2; shift 2 ;;
    --epochs) positive "$1" "$2"; EPOCHS=$2; shift 2 ;;
    --quality-ranks) positive "$1" "$2"; QUALITY_RANKS=$2; shift 2 ;;
    --build-dir) BUILD=$(realpath -m "$2"); shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "bench_cpu: unknown argument '$1'" >&2; usage 2 ;;
  esac
done
for r in $RANKS $QUALITY_RANKS; do
  positive "--ranks/--quality-ranks" "$r"
  (( 128 % r == 0 )) || die "rank count $r does not divide the global batch of 128"
done
(( WARMUP % LOG_EVERY == 0 && WARMUP < STEPS && STEPS % LOG_EVERY == 0 )) ||
  die "--warmup ($WARMUP) and --steps ($STEPS) must be multiples of $LOG_EVERY with warmup < steps"

# ---- prerequisites: PyTorch for /usr/bin/python3 and the Fashion-MNIST IDX files ----
if ! "$PY" -c 'import torch, numpy' 2>/dev/null || [[ ! -f $IDX/train-images-idx3-ubyte.gz ]]; then
  echo "bench_cpu: installing python3-torch and dataset-fashion-mnist"
  apt-get install -y python3-torch python3-numpy dataset-fashion-mnist >/dev/null ||
    die "apt-get install python3-torch dataset-fashion-mnist failed (run as root, after apt-get update)"
fi
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  [[ -f $IDX/$f ]] || die "missing $IDX/$f (package dataset-fashion-mnist)"
done

# Each framework picks its threads per rank from the core count (elbo: OpenBLAS threads
# = cores / node-local ranks; torch_vae.py: the same for torch and OpenBLAS), so
# inherited settings must not override one side only.
unset OPENBLAS_NUM_THREADS OMP_NUM_THREADS MKL_NUM_THREADS OMP_WAIT_POLICY
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# ---- build elbo (Release, CPU only) ----
mkdir -p "$DATA" "$RESULTS"
echo "bench_cpu: building elbo in $BUILD"
# A fresh folder gets elbo alone; one configured before keeps its options (a developer's
# test build stays one, only switched to Release).
fresh=(); [[ -f "$BUILD/CMakeCache.txt" ]] || fresh=(-DELBO_CUDA=OFF -DELBO_TESTS=OFF)
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "${fresh[@]}" >"$RESULTS/build.log" 2>&1 &&
  cmake --build "$BUILD" --target elbo -j"$(nproc)" >>"$RESULTS/build.log" 2>&1 ||
  { tail -40 "$RESULTS/build.log" >&2; die "building elbo failed (log: $RESULTS/build.log)"; }
BIN="$BUILD/elbo"

# ---- data: Fashion-MNIST as shard sets (made once) ----
convert() {  # convert NAME IMAGES LABELS SHARDS
  [[ -f $DATA/$1/manifest.yaml ]] && return
  "$BIN" data convert --images "$IDX/$2" --labels "$IDX/$3" --out "$DATA/$1" --shards "$4" --overwrite >/dev/null
}
convert train train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz 4
convert test t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz 1

# The benchmark's config, every key that matters written out (not inherited from a
# config file that may change): the model and training of configs/fashion_mlp.yaml.
CONFIG="$RESULTS/bench_fashion_mlp.yaml"
cat >"$CONFIG" <<YAML
run:
  dir: $RESULTS/runs/unused
  seed: 1234
data:
  train: $DATA/train/manifest.yaml
  test: $DATA/test/manifest.yaml
  binarize: dynamic
  scale: true
model:
$(case $MODEL in
  conv) printf '  type: conv_vae\n  channels: [32, 64]\n  strides: [2, 2]\n  latent: 32\n  activation: relu\n' ;;
  hvae_conv) printf '  type: hvae\n  group_type: conv\n  latents: [4, 4, 2]\n  group_hidden: [32, 32, 32]\n'
             printf '  group_scale: [4, 4, 2]\n  group_depth: 1\n  posterior: residual\n  activation: swish\n' ;;
  *) printf '  type: mlp_vae\n  hidden: [512, 256]\n  latent: 32\n  activation: relu\n' ;;
esac)
  likelihood: bernoulli
train:
  global_batch: 128
  optimizer: adam
  lr: 1.0e-3
  beta1: 0.9
  beta2: 0.999
  eps: 1.0e-8
  beta: 1.0
  kl_warmup_steps: 0
  grad_clip: 0
  log_every: $LOG_EVERY
  checkpoint_every: 0
  keep_checkpoints: 1
  sample_grid: 0
  device: cpu
eval:
  iw_samples: 1
  iw_chunk: 500
YAML

# ---- header ----
MACHINE="$RESULTS/machine.json"
"$PY" "$REPO/tests/bench/bench_report.py" machine >"$MACHINE"
"$PY" - "$MACHINE" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"machine   {m['nproc']} cores, {m['cpu_model']}, load average {m['loadavg_at_start']:.2f} at start")
print(f"versions  torch {m['torch']}; {m['openblas']}; {m['mpi']}; {m['compiler']}")
EOF
echo "method    global batch 128, $STEPS steps per run, first $WARMUP excluded, $REPEATS alternated runs per framework," \
  "threads per rank: ${THREADS:-cores / ranks}"

RUNS="$RESULTS/cpu-runs.jsonl"
QUAL="$RESULTS/cpu-quality.jsonl"
LOGS="$RESULTS/logs"
rm -f "$RUNS" "$QUAL"
rm -rf "$RESULTS/runs" "$LOGS"
mkdir -p "$LOGS"

load1() { cut -d' ' -f1 /proc/loadavg; }
now_ns() { date +%s%N; }

# record FRAMEWORK RANKS REPEAT JSON: one line of the raw results
record() {
  "$PY" -c 'import json,os,sys; r=json.loads(sys.argv[4]); r.update(framework=sys.argv[1], ranks=int(sys.argv[2]), repeat=int(sys.argv[3]), loadavg_before=float(sys.argv[5]), threads=int(sys.argv[6] or 0) or os.cpu_count() // int(sys.argv[2])); print(json.dumps(r))' \
    "$@" "$THREADS" >>"$RUNS"
}

run_elbo() {  # run_elbo RANKS REPEAT
  local dir="$RESULTS/runs/elbo-r$1-$2" log="$LOGS/elbo-r$1-$2.log" load t0 t1
  load=$(load1)
  rm -rf "$dir"
  t0=$(now_ns)
  # elbo sizes its thread pools itself (cores / ranks, within the rank's CPU binding)
  # unless OPENBLAS_NUM_THREADS is set
  ${THREADS:+env OPENBLAS_NUM_THREADS=$THREADS} \
    mpirun -np "$1" $(bind_flags "$1") --oversubscribe "$BIN" train "$CONFIG" --set run.dir="$dir" --set train.steps="$STEPS" >"$log" 2>&1 ||
    { tail -20 "$log" >&2; die "elbo train failed (log: $log)"; }
  t1=$(now_ns)
  local rate
  rate=$("$PY" "$REPO/tests/bench/bench_report.py" elbo-rate "$dir" --warmup "$WARMUP" --batch 128)
  rate=$("$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); r["wall_s"]=float(sys.argv[2]); print(json.dumps(r))' "$rate" "$((t1 - t0))e-9")
  record elbo "$1" "$2" "$rate" "$load"
  rm -rf "$dir"
}

# mpirun binds each rank to one core by default (for up to two ranks): right when there
# are as many ranks as cores, but it would confine a single rank's threads to one of the
# cores that PyTorch's unbound processes share. Fewer ranks than cores: no binding.
bind_flags() { (($1 < $(nproc))) && echo "--bind-to none"; true; }

run_torch() {  # run_torch RANKS REPEAT
  local log="$LOGS/torch-r$1-$2.log" load out
  load=$(load1)
  out=$("$PY" "$REPO/tests/bench/torch_vae.py" --model "$MODEL" --ranks "$1" --steps "$STEPS" --warmup "$WARMUP" --data "$IDX" \
    ${THREADS:+--threads $THREADS --blas-threads $THREADS} 2>"$log") ||
    { tail -20 "$log" >&2; die "torch_vae.py failed (log: $log)"; }
  record torch "$1" "$2" "$out" "$load"
}

show_last() {
  "$PY" -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print("  %5s ranks %d run %d: %7.0f samples/s  (load %.1f)" % (r["framework"], r["ranks"], r["repeat"], r["samples_per_s"], r["loadavg_before"]))' "$RUNS"
}

# ---- throughput ----
for ranks in $RANKS; do
  for ((i = 1; i <= REPEATS; ++i)); do
    if ((i % 2)); then order="elbo torch"; else order="torch elbo"; fi
    for fw in $order; do
      "run_$fw" "$ranks" "$i"
      show_last
    done
  done
done

# ---- quality (optional): full training, then the test negative ELBO ----
if ((QUALITY)); then
  echo "quality: $EPOCHS epochs of each on $QUALITY_RANKS rank(s)"
  dir="$RESULTS/runs/elbo-quality"
  rm -rf "$dir"
  t0=$(now_ns)
  mpirun -np "$QUALITY_RANKS" $(bind_flags "$QUALITY_RANKS") --oversubscribe "$BIN" train "$CONFIG" --set run.dir="$dir" --set train.steps=0 \
    --set train.epochs="$EPOCHS" --set train.log_every=500 >"$LOGS/elbo-quality.log" 2>&1 ||
    { tail -20 "$LOGS/elbo-quality.log" >&2; die "elbo quality training failed"; }
  t1=$(now_ns)
  mpirun -np "$QUALITY_RANKS" $(bind_flags "$QUALITY_RANKS") --oversubscribe "$BIN" eval "$CONFIG" --set run.dir="$dir" >>"$LOGS/elbo-quality.log" 2>&1 ||
    { tail -20 "$LOGS/elbo-quality.log" >&2; die "elbo eval failed"; }
  "$PY" - "$dir/eval.json" "$((t1 - t0))e-9" "$EPOCHS" "$QUALITY_RANKS" >>"$QUAL" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))
print(json.dumps({"framework": "elbo", "ranks": int(sys.argv[4]), "epochs": int(sys.argv[3]),
                  "train_wall_s": float(sys.argv[2]), "test_images": e["images"], "test_nelbo": e["test_nelbo"],
                  "test_recon": e["test_recon"], "test_kl": e["test_kl"]}))
EOF
  out=$("$PY" "$REPO/tests/bench/torch_vae.py" --model "$MODEL" --ranks "$QUALITY_RANKS" --epochs "$EPOCHS" --data "$IDX" --log-every 500 \
    2>"$LOGS/torch-quality.log") || { tail -20 "$LOGS/torch-quality.log" >&2; die "torch_vae.py quality run failed"; }
  "$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); r["train_wall_s"]=r["wall_s"]; print(json.dumps(r))' "$out" >>"$QUAL"
fi

"$PY" "$REPO/tests/bench/bench_report.py" summarize "$RUNS" "$MACHINE" "$RESULTS/cpu.json" "$QUAL"
