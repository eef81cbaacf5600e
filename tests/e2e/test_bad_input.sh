#!/usr/bin/env bash
# Bad input gets a clear error naming the file/key/rank, a non-zero exit, and loses
# nothing already written: each case runs against a run directory holding a good
# checkpoint, and the directory's files are checksummed before and after.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 400 10 10 3 3
write_config good.yaml run data/manifest.yaml
elbo_np 1 train good.yaml --set train.steps=20 --set train.checkpoint_every=10 --set train.sample_grid=0 >good.log 2>&1 || { cat good.log; fail "good run"; }
snapshot() { (cd run && find . -type f ! -name '*.png' -print0 | sort -z | xargs -0 sha256sum); }
before=$(snapshot)

# expect_error NAME NP PATTERN ARGS...: exit != 0, stderr matches PATTERN, run dir unchanged
expect_error() {
  local name=$1 np=$2 pattern=$3
  shift 3
  set +e
  elbo_np "$np" "$@" >"$name.out" 2>"$name.err"
  local rc=$?
  set -e
  [ $rc -ne 0 ] || { cat "$name.out" "$name.err"; fail "$name: exit 0"; }
  grep -Eq "$pattern" "$name.err" || { cat "$name.err"; fail "$name: message does not match /$pattern/"; }
  [ "$(snapshot)" = "$before" ] || fail "$name: the run directory changed"
  echo "ok  $name: $(grep -Em1 "$pattern" "$name.err")"
}

cp good.yaml unknown.yaml && sed -i 's/^  lr: 0.002/  lrr: 0.002/' unknown.yaml
expect_error unknown-key 1 "unknown\.yaml:[0-9]+: .*train\.lrr" train unknown.yaml
cp good.yaml mistyped.yaml && sed -i 's/^  global_batch: 128/  global_batch: lots/' mistyped.yaml
expect_error mistyped-key 1 "mistyped\.yaml:[0-9]+: .*train\.global_batch" train mistyped.yaml
expect_error bad-override 1 "train\.lrr" train good.yaml --set train.lrr=0.1
expect_error out-of-range 1 "train\.lr" train good.yaml --set train.lr=-1
expect_error batch-vs-world 3 "global_batch = 128 is not divisible by the world size 3" train good.yaml

cp -r data data_missing && rm data_missing/shard_00001.h5
expect_error missing-shard 1 "shard_00001\.h5" train good.yaml --set data.train=data_missing/manifest.yaml
cp -r data data_trunc && truncate -s 2000 data_trunc/shard_00002.h5
expect_error truncated-shard 1 "shard_00002\.h5" train good.yaml --set data.train=data_trunc/manifest.yaml
make_dataset other 100 12 12 4 1
cp -r data data_shape && cp other/shard_00000.h5 data_shape/shard_00001.h5
expect_error shape-mismatch 1 "shard_00001\.h5" train good.yaml --set data.train=data_shape/manifest.yaml
expect_error model-mismatch 1 "another model" train good.yaml --set model.latent=4

note "a corrupt newest checkpoint: warning, fall back to the previous one"
newest=run/checkpoints/ckpt_000000020.h5
cp "$newest" saved.h5
size=$(stat -c %s "$newest")
truncate -s $((size / 2)) "$newest"
elbo_np 1 train good.yaml --set train.steps=30 --set train.sample_grid=0 >fb.out 2>fb.err || { cat fb.out fb.err; fail "fallback run"; }
grep -q "warning: .*ckpt_000000020.h5" fb.err || { cat fb.err; fail "no warning for the truncated checkpoint"; }
grep -q "resuming from .*ckpt_000000010.h5" fb.out || { cat fb.out; fail "did not fall back to step 10"; }
[ -f "$newest" ] || fail "the corrupt checkpoint was deleted"

note "an altered byte inside a checkpoint dataset"
rm -rf run2 && write_config alt.yaml run2 data/manifest.yaml
elbo_np 1 train alt.yaml --set train.steps=20 --set train.checkpoint_every=10 --set train.sample_grid=0 >alt.log 2>&1
"$PY" - run2/checkpoints/ckpt_000000020.h5 <<'PY'
import h5py, sys
path = sys.argv[1]
with h5py.File(path, "r") as f:
    off = f["params/decoder.0.weight"].id.get_offset()
with open(path, "r+b") as f:
    f.seek(off + 12)
    b = f.read(1)
    f.seek(off + 12)
    f.write(bytes([b[0] ^ 0x40]))
PY
elbo_np 1 eval alt.yaml --set data.test=data/manifest.yaml --set eval.iw_samples=2 >ev.out 2>ev.err || { cat ev.out ev.err; fail "eval with fallback"; }
grep -q "warning: .*ckpt_000000020.h5.*" ev.err || { cat ev.err; fail "no checksum warning"; }
grep -q "ckpt_000000010.h5" ev.out || { cat ev.out; fail "eval did not fall back"; }
echo PASS
