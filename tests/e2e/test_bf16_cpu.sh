#!/usr/bin/env bash
# train.precision: bf16 on the CPU (layer GEMMs on AMX or AVX512-BF16, weights and
# optimizer FP32): the run says so, trains to a loss near the FP32 run's (but not to its
# bits), is bitwise the same on 1 and 3 threads, and tf32 is refused on the CPU naming the
# key. Skips (77) where the CPU has neither AMX nor AVX512-BF16, printing why.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 700 14 14 5
sets=(--set 'model.hidden=[256, 128]' --set train.steps=30 --set train.checkpoint_every=0 --set train.sample_grid=0
      --set train.log_every=10)

note "tf32 is a GPU format: refused on the CPU"
write_config tf32.yaml tf32 data/manifest.yaml
set +e
elbo_np 1 train tf32.yaml "${sets[@]}" --set train.precision=tf32 >tf32.log 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "train.precision: tf32 is a format of NVIDIA's tensor cores" tf32.log ||
  { cat tf32.log; fail "tf32 on the CPU was not refused with a message naming train.precision"; }

note "bf16 on 1 and 3 threads"
for t in 1 3; do
  write_config t$t.yaml bf16_t$t data/manifest.yaml
  set +e
  OPENBLAS_NUM_THREADS=$t "$MPIEXEC" -np 1 --bind-to none "$ELBO_BIN" train t$t.yaml "${sets[@]}" \
    --set train.precision=bf16 >t$t.log 2>&1
  rc=$?
  set -e
  if [ "$rc" -ne 0 ] && grep -q "train.precision: bf16 needs a CPU with AMX or AVX512-BF16" t$t.log; then
    grep "error" t$t.log
    exit 77
  fi
  [ "$rc" -eq 0 ] || { cat t$t.log; fail "bf16 training on $t threads"; }
done
grep -q "bf16 layer GEMMs" t1.log || { cat t1.log; fail "the start line does not say bf16"; }
"$ELBO_BIN" devices | grep -q "^cpu      train.precision: bf16 available" || { "$ELBO_BIN" devices; fail "elbo devices does not say bf16 is available"; }
compare_ckpt bf16_t3/checkpoints/ckpt_000000030.h5 bf16_t1/checkpoints/ckpt_000000030.h5 --bitwise --optimizer ||
  fail "bf16: 3 threads differ from 1 thread"

note "bf16 against fp32: the same training, a loss within 2% (bf16 keeps 8 bits of each product's inputs)"
write_config f.yaml fp32 data/manifest.yaml
OPENBLAS_NUM_THREADS=1 "$MPIEXEC" -np 1 --bind-to none "$ELBO_BIN" train f.yaml "${sets[@]}" >f.log 2>&1 ||
  { cat f.log; fail "fp32 training"; }
"$PY" - fp32/metrics.jsonl bf16_t1/metrics.jsonl <<'PY' || fail "bf16's loss is not near fp32's"
import json, sys
fp32, bf16 = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
for a, b in zip(fp32, bf16):
    assert a["step"] == b["step"]
    rel = abs(a["loss"] - b["loss"]) / abs(a["loss"])
    print(f"step {a['step']}: fp32 {a['loss']:.4f}  bf16 {b['loss']:.4f}  ({rel:.2%})")
    assert rel < 0.02, rel
assert fp32[-1]["loss"] != bf16[-1]["loss"], "bf16 gave fp32's bits: the products were not rounded"
PY
echo PASS
