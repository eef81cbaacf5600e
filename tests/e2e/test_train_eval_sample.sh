#!/usr/bin/env bash
# The user's path on 2 ranks: train with checkpoints and metrics, then eval (negative
# ELBO and IW NLL, which must bound each other), sample grids, and data inspect.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset train 1500 14 14 5 4
make_dataset test 300 14 14 6 2
"$ELBO_BIN" data inspect train/manifest.yaml --verify >inspect.txt || fail "inspect"
grep -q "1500" inspect.txt || { cat inspect.txt; fail "inspect does not show the count"; }
write_config c.yaml run train/manifest.yaml test/manifest.yaml
elbo_np 2 train c.yaml --set train.steps=120 --set train.checkpoint_every=40 --set train.keep_checkpoints=2 >train.log 2>&1 || { cat train.log; fail "train"; }
grep -Eq "^step 120/120 .*samples/s" train.log || { cat train.log; fail "no progress line"; }
[ -s run/config.yaml ] || fail "effective config not written to run/config.yaml"
[ "$(ls run/checkpoints/ | wc -l)" = 2 ] || { ls run/checkpoints; fail "keep_checkpoints=2 not honoured"; }
for f in run/samples.png run/reconstructions.png run/metrics.jsonl; do [ -s $f ] || fail "missing $f"; done
"$PY" - run/metrics.jsonl <<'PY' || fail "loss did not decrease"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
print("loss", r[0]["loss"], "->", r[-1]["loss"])
assert r[-1]["loss"] < 0.8 * r[0]["loss"]
PY
"$PY" -c "import h5py; f=h5py.File('run/checkpoints/ckpt_000000120.h5'); print(f.attrs['config'][:40]); assert f['params/encoder.0.weight'].shape == (64, 196)" || fail "checkpoint not readable with h5py"
elbo_np 2 eval c.yaml >eval.log 2>&1 || { cat eval.log; fail "eval"; }
cat eval.log
"$PY" - run/eval.json <<'PY' || fail "eval results inconsistent"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["images"] == 300 and e["iw_k"] == 20, e
# The importance-weighted bound is tighter: IW NLL <= negative ELBO (up to noise).
assert e["iw_nll"] <= e["test_nelbo"] + 0.5, e
assert abs(e["iw_nll_bits_per_dim"] - e["iw_nll"] / (196 * 0.6931471805599453)) < 1e-6
PY
note "eval with k larger than the chunk (importance samples split in pieces) on 1 rank"
elbo_np 1 eval c.yaml --set eval.iw_samples=30 --set eval.iw_chunk=8 --set eval.max_images=20 >eval2.log 2>&1 || { cat eval2.log; fail "chunked eval"; }
"$ELBO_BIN" sample c.yaml --checkpoint run/checkpoints/ckpt_000000080.h5 >sample.log 2>&1 || { cat sample.log; fail "sample"; }
[ -s run/samples_step000000080.png ] || { cat sample.log; fail "sample did not write run/samples_step000000080.png"; }
echo PASS
