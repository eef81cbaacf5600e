#!/usr/bin/env bash
# The convolutional hierarchical VAE (model.group_type: conv): three groups of latent maps
# at 4x4, 8x8 and 8x8 on 16x16 images train 30 steps on 1 rank x 64, 2 x 32 and 4 x 16 to
# the same parameters (1e-5 relative), and the memory line at the start says what a rank
# holds; with train.recompute the parameters are the same bits and the activation memory
# lower; eval reports each group's active units; sample
# draws at a temperature (one value or one per group), reconstruct --top-groups writes a
# row per K = 0..3 below the images; interpolate and encode work; bad flags are errors
# that say what is wrong; images of another shape than the checkpoint records are refused
# by eval, encode, sample and a resume, with nothing written.
source "$ELBO_SRC/tests/e2e/lib.sh"
png_size() { "$PY" "$ELBO_SRC/tests/e2e/png_info.py" "$1" | cut -d' ' -f1,2; }
make_dataset data 600 16 16 5
make_dataset test 100 16 16 6 2
hvae=(--set model.type=hvae --set model.group_type=conv --set 'model.latents=[2, 2, 1]'
      --set 'model.group_hidden=[8, 8, 6]' --set 'model.group_scale=[4, 2, 2]' --set model.group_depth=1
      --set model.activation=swish --set model.posterior=residual --set train.global_batch=64
      --set train.steps=30 --set train.checkpoint_every=0 --set train.sample_grid=4)
for np in 1 2 4; do write_config c$np.yaml run$np data/manifest.yaml test/manifest.yaml; done
same_on_ranks 000000030 "${hvae[@]}"
note "the memory per rank, printed before the first step (2 ranks: 32 images each)"
grep -Eq "^elbo: memory per rank: activations [0-9.]+ MB \(32 images: values and gradients of the step's graph\)" \
  log2.txt || fail "no activation memory line: $(head -3 log2.txt)"
note "train.recompute: the residual cells recomputed in backward, the same bits in less memory"
elbo_np 1 train c1.yaml "${hvae[@]}" --set train.recompute=true --set run.dir=rec >rec.log 2>&1 || { cat rec.log; fail "recompute"; }
compare_ckpt rec/checkpoints/ckpt_000000030.h5 run1/checkpoints/ckpt_000000030.h5 --bitwise || fail "recompute changed the results"
mb() { sed -n 's/^elbo: memory per rank: activations \([0-9.]*\) MB.*/\1/p' "$1"; }
awk -v a="$(mb rec.log)" -v b="$(mb log1.txt)" 'BEGIN { exit !(a > 0 && a < b) }' ||
  fail "recompute did not lower the activation memory: $(mb rec.log) MB against $(mb log1.txt) MB"
ckpt=run1/checkpoints/ckpt_000000030.h5
"$PY" - $ckpt run1/metrics.jsonl <<'PY' || fail "conv hvae checkpoint layout or metrics"
import h5py, json, sys
f = h5py.File(sys.argv[1])
shapes = {k: f['params'][k].shape for k in ['encoder.2.stem.weight', 'encoder.0.q.weight', 'prior.2.weight',
                                             'decoder.1.proj.weight', 'decoder.out.weight']}
assert shapes == {'encoder.2.stem.weight': (6, 1, 3, 3), 'encoder.0.q.weight': (4, 8, 3, 3),
                  'prior.2.weight': (2, 6, 3, 3), 'decoder.1.proj.weight': (6, 8, 1, 1),
                  'decoder.out.weight': (1, 6, 3, 3)}, shapes
rows = [json.loads(l) for l in open(sys.argv[2])]
assert all(k in rows[-1] for k in ('kl_group_0', 'kl_group_1', 'kl_group_2')), rows[-1]
PY

note "eval: active units per group"
elbo_np 2 eval c1.yaml "${hvae[@]}" >eval.log 2>&1 || { cat eval.log; fail "eval"; }
grep -q "group 2" eval.log || { cat eval.log; fail "eval does not print the groups' active units"; }
"$PY" - run1/eval.json <<'PY' || { cat eval.log; fail "eval json"; }
import json, sys
e = json.load(open(sys.argv[1]))
assert e["group_dims"] == [32, 128, 64], e
assert len(e["active_units_per_group"]) == 3 and all(0 <= a <= d for a, d in zip(e["active_units_per_group"], e["group_dims"])), e
assert e["active_units_per_group"][0] == e["active_units"], e  # the top group is the model's latent
assert e["iw_nll"] <= e["test_nelbo"] + 0.5, e
PY

note "sample at temperatures"
"$ELBO_BIN" sample --checkpoint $ckpt --temperature 0.7 --out t07.png >s1.log 2>&1 || { cat s1.log; fail "sample --temperature 0.7"; }
"$ELBO_BIN" sample --checkpoint $ckpt --temperature 1.0,0.9,0.5 --out t3.png >s2.log 2>&1 || { cat s2.log; fail "per-group temperatures"; }
"$ELBO_BIN" sample --checkpoint $ckpt --out t1.png >s3.log 2>&1 || { cat s3.log; fail "sample"; }
[ "$(png_size t07.png)" = "$(png_size t1.png)" ] || fail "sizes differ"
cmp -s t07.png t1.png && fail "the temperature changed nothing"
note "reconstruct --top-groups"
"$ELBO_BIN" reconstruct --checkpoint $ckpt --top-groups all --out top.png >r1.log 2>&1 || { cat r1.log; fail "--top-groups all"; }
"$ELBO_BIN" reconstruct --checkpoint $ckpt --top-groups 1 --temperature 0.5 --out top1.png >r2.log 2>&1 ||
  { cat r2.log; fail "--top-groups 1"; }
w=$(png_size top.png | cut -d' ' -f1); h=$(png_size top.png | cut -d' ' -f2); h1=$(png_size top1.png | cut -d' ' -f2)
# 4 per row; rows: the images, then K = 0, 1, 2, 3 (5 rows), or the images and K = 1 (2 rows)
[ $((h * 4)) -gt $((w * 4 * 5 / 4 - 20)) ] && [ "$h" -gt "$h1" ] || fail "top-group grids: $(png_size top.png), $(png_size top1.png)"
note "interpolate, encode and score"
"$ELBO_BIN" score --checkpoint $ckpt --iw-samples 10 --out score.csv >sc.log 2>&1 || { cat sc.log; fail "score"; }
"$ELBO_BIN" eval --checkpoint $ckpt --set eval.iw_samples=10 --out ev10.json >ev10.log 2>&1 || { cat ev10.log; fail "eval k=10"; }
"$PY" -c '
import csv, json, numpy as np
rows = list(csv.DictReader(open("score.csv")))
nll = np.mean([float(r["nll"]) for r in rows]); e = json.load(open("ev10.json"))
assert len(rows) == 100 and abs(nll - e["iw_nll"]) <= 1e-5 * abs(e["iw_nll"]), (len(rows), nll, e["iw_nll"])
' || fail "conv hvae score: its mean is not eval's IW NLL"
"$ELBO_BIN" interpolate --checkpoint $ckpt --pairs 2 --out interp.png >i.log 2>&1 || { cat i.log; fail "interpolate"; }
"$ELBO_BIN" encode --checkpoint $ckpt --data test/manifest.yaml --out enc.h5 >e.log 2>&1 || { cat e.log; fail "encode"; }
"$PY" -c "
import h5py, numpy as np
f = h5py.File('enc.h5')
assert f['mu'].shape == (100, 32) and np.isfinite(f['mu'][()]).all(), f['mu'].shape
" || fail "encode output"

note "bad flags"
expect_error() {  # expect_error PATTERN ARGS...: elbo ARGS fails, saying PATTERN
  local pattern=$1
  shift
  if "$ELBO_BIN" "$@" >bad.out 2>&1; then cat bad.out; fail "elbo $* succeeded"; fi
  grep -q -- "$pattern" bad.out || { cat bad.out; fail "elbo $*: no '$pattern' in the error"; }
}
expect_error "3 stochastic groups" sample --checkpoint $ckpt --temperature 1,0.5 --out x.png
expect_error "not a positive number" sample --checkpoint $ckpt --temperature -1 --out x.png
expect_error "expected numbers separated by commas" sample --checkpoint $ckpt --temperature warm --out x.png
expect_error "0..3" reconstruct --checkpoint $ckpt --top-groups 4 --out x.png
expect_error "give --top-groups" reconstruct --checkpoint $ckpt --temperature 0.5 --out x.png
write_config m.yaml mlp data/manifest.yaml test/manifest.yaml
elbo_np 1 train m.yaml --set train.steps=2 --set train.sample_grid=0 >m.log 2>&1 || { cat m.log; fail "mlp"; }
expect_error "need a hierarchical model" reconstruct --checkpoint mlp/checkpoints/ckpt_000000002.h5 --top-groups 1 --out x.png
expect_error "1 stochastic group" sample --checkpoint mlp/checkpoints/ckpt_000000002.h5 --temperature 1,1 --out x.png
"$ELBO_BIN" sample --checkpoint mlp/checkpoints/ckpt_000000002.h5 --temperature 0.5 --out m.png >ms.log 2>&1 ||
  { cat ms.log; fail "sample --temperature of an mlp_vae"; }
note "images of another shape: the fully convolutional model's weights would fit 32x32 images, the checkpoint's record of its 16x16 ones refuses them"
make_dataset big 40 32 32 7 1
expect_error "data.test big/manifest.yaml holds images of 1 x 32 x 32 (channels x height x width), but the model of checkpoint $ckpt was trained on images of 1 x 16 x 16" \
  eval c1.yaml "${hvae[@]}" --checkpoint $ckpt --set data.test=big/manifest.yaml
expect_error "--data big/manifest.yaml holds images of 1 x 32 x 32" encode --checkpoint $ckpt --data big/manifest.yaml --out big.h5
[ ! -e big.h5 ] || fail "encode wrote big.h5 for images of another shape"
expect_error "data.train big/manifest.yaml holds images of 1 x 32 x 32" sample --checkpoint $ckpt --set data.train=big/manifest.yaml --out big.png
[ ! -e big.png ] || fail "sample wrote big.png"
before=$(ls -l run1/checkpoints)
expect_error "data.train big/manifest.yaml holds images of 1 x 32 x 32" train c1.yaml "${hvae[@]}" --set data.train=big/manifest.yaml --set data.test=big/manifest.yaml --set train.steps=40
[ "$(ls -l run1/checkpoints)" = "$before" ] || fail "a refused resume changed run1/checkpoints"
expect_error "model.group_scale" train c1.yaml "${hvae[@]}" --set 'model.group_scale=[4, 2]'
expect_error "do not divide" train c1.yaml "${hvae[@]}" --set 'model.group_scale=[32, 2, 2]' --set run.dir=bad
echo PASS
