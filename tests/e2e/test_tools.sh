#!/usr/bin/env bash
# The per-image tools on a small trained model:
#   elbo interpolate  a PNG row per pair (the images at the ends, --steps decoded points in
#                     between) whose first and last decoded points are the images'
#                     reconstructions as `elbo reconstruct` draws them;
#   elbo encode       /mu and /logvar (images x latent, float32, finite), /index, /labels
#                     (labelled shards), read with h5py; the same for any --batch;
#   elbo score        one nll and nelbo per image whose means are `elbo eval`'s IW NLL and
#                     negative ELBO for the same k and seed, on 1 and 2 ranks, with k above
#                     eval.iw_chunk too, as CSV or HDF5.
# Each works for mlp_vae, conv_vae, hvae and a conditional model (classes from the labels).
# elbo sample --count N --seed S draws N samples, the same for the same seed.
# Bad input (a missing checkpoint, images of another shape, a bad --out or flag value):
# a clear error naming the flag or file, and nothing written or written over.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset train 400 10 10 3 2
make_dataset test 60 10 10 4 1
write_config c.yaml run train/manifest.yaml test/manifest.yaml
elbo_np 1 train c.yaml --set train.steps=30 --set train.checkpoint_every=30 >train.log 2>&1 ||
  { cat train.log; fail "train"; }
ckpt=run/checkpoints/ckpt_000000030.h5
png_size() { "$PY" "$ELBO_SRC/tests/e2e/png_info.py" "$1" | cut -d' ' -f1,2; }

note "interpolate: rows of pairs, ends = the reconstructions"
"$ELBO_BIN" interpolate --checkpoint $ckpt --index 0,1 --index 2,3 --steps 5 --out interp.png >i1.log 2>&1 ||
  { cat i1.log; fail "interpolate --index"; }
grep -q "wrote interp.png" i1.log || { cat i1.log; fail "interpolate does not say what it wrote"; }
# 2 rows of 1 + 5 + 1 tiles of 10 x 10 with 2-pixel borders
[ "$(png_size interp.png)" = "86 26" ] || fail "interp.png is $(png_size interp.png)"
"$ELBO_BIN" reconstruct --checkpoint $ckpt --set train.sample_grid=4 --out recon.png >r.log 2>&1 || { cat r.log; fail "reconstruct"; }
"$PY" - "$ELBO_SRC/tests/e2e" <<'PY' || fail "interpolation ends differ from the reconstructions"
import sys
sys.path.insert(0, sys.argv[1])
from png_info import decode
def tile(path, row, col, cell=10, pad=2):
    rows = decode(path)[3]
    y, x = pad + row * (cell + pad), pad + col * (cell + pad)
    return [list(r[x:x + cell]) for r in rows[y:y + cell]]
def diff(a, b):
    return max(abs(p - q) for ra, rb in zip(a, b) for p, q in zip(ra, rb))
# recon.png: row 0 images 0..3, row 1 their reconstructions
for pair, (a, b) in enumerate([(0, 1), (2, 3)]):
    checks = [("image a", tile("interp.png", pair, 0), tile("recon.png", 0, a)),
              ("image b", tile("interp.png", pair, 6), tile("recon.png", 0, b)),
              ("t=0", tile("interp.png", pair, 1), tile("recon.png", 1, a)),
              ("t=1", tile("interp.png", pair, 5), tile("recon.png", 1, b))]
    for name, got, want in checks:
        d = diff(got, want)
        print(f"pair {pair} {name}: max pixel difference {d}")
        assert d <= 2, (pair, name, d)
    assert diff(tile("interp.png", pair, 1), tile("interp.png", pair, 5)) > 0, "a and b decode alike"
PY
"$ELBO_BIN" interpolate c.yaml --pairs 3 --spherical --seed 5 --out pictures/ >i2.log 2>&1 ||
  { cat i2.log; fail "interpolate --pairs --spherical"; }
[ "$(png_size pictures/interpolate_step000000030.png)" = "146 38" ] || { ls pictures; fail "random pairs, default 10 steps"; }
grep -qE "pairs [0-9]+,[0-9]+ [0-9]+,[0-9]+ [0-9]+,[0-9]+\)" i2.log || { cat i2.log; fail "the drawn pairs are not named"; }

note "encode: /mu, /logvar, /index; any batch size"
"$ELBO_BIN" encode --checkpoint $ckpt --data test/manifest.yaml --out enc.h5 >e1.log 2>&1 || { cat e1.log; fail "encode"; }
elbo_np 2 encode --checkpoint $ckpt --data test/manifest.yaml --batch 7 --out enc7.h5 >e2.log 2>&1 ||
  { cat e2.log; fail "encode on 2 ranks, --batch 7"; }
"$PY" - <<'PY' || fail "encode output"
import h5py, numpy as np
with h5py.File("enc.h5") as f, h5py.File("enc7.h5") as g:
    assert sorted(f.keys()) == ["index", "logvar", "mu"], list(f.keys())
    mu, lv = f["mu"][()], f["logvar"][()]
    assert mu.shape == (60, 8) and lv.shape == (60, 8) and mu.dtype == np.float32 and lv.dtype == np.float32
    assert np.isfinite(mu).all() and np.isfinite(lv).all()
    assert (f["index"][()] == np.arange(60)).all()
    assert f.attrs["step"] == 30 and f.attrs["checkpoint"].endswith("ckpt_000000030.h5"), dict(f.attrs)
    np.testing.assert_allclose(g["mu"][()], mu, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g["logvar"][()], lv, rtol=1e-4, atol=1e-5)
    print("mu std per dim", mu.std(0).round(3))
PY
# More ranks than images: the ranks without any send nothing, and the file is the 1-rank one.
make_dataset tiny 3 10 10 8 1
"$ELBO_BIN" encode --checkpoint $ckpt --data tiny/manifest.yaml --out tiny1.h5 >t1.log 2>&1 || { cat t1.log; fail "encode 3 images"; }
elbo_np 4 encode --checkpoint $ckpt --data tiny/manifest.yaml --batch 2 --out tiny4.h5 >t4.log 2>&1 ||
  { cat t4.log; fail "encode 3 images on 4 ranks"; }
"$PY" - <<'PY' || fail "encode of 3 images on 4 ranks"
import h5py, numpy as np
with h5py.File("tiny1.h5") as f, h5py.File("tiny4.h5") as g:
    assert f["mu"].shape == (3, 8) and (g["index"][()] == np.arange(3)).all()
    np.testing.assert_allclose(g["mu"][()], f["mu"][()], rtol=1e-4, atol=1e-5)
PY

note "score: means equal eval's IW NLL and negative ELBO"
# k = 20 (within eval.iw_chunk = 200) and k = 300 (above it: one image at a time, in pieces)
for k in 20 300; do
  "$ELBO_BIN" eval --checkpoint $ckpt --set eval.iw_samples=$k --out eval$k.json >ev$k.log 2>&1 || { cat ev$k.log; fail "eval k=$k"; }
  "$ELBO_BIN" score --checkpoint $ckpt --iw-samples $k --out score$k.csv >sc$k.log 2>&1 || { cat sc$k.log; fail "score k=$k"; }
done
elbo_np 2 score --checkpoint $ckpt --data test/manifest.yaml --iw-samples 20 --batch 9 --out score20.h5 >sc2.log 2>&1 ||
  { cat sc2.log; fail "score on 2 ranks, HDF5"; }
grep -q "mean nll (k=20)" sc2.log && grep -q "wrote score20.h5" sc2.log || { cat sc2.log; fail "score's summary"; }
ELBO_PROGRESS_EVERY_S=0.000001 "$ELBO_BIN" score --checkpoint $ckpt --iw-samples 50 --out progress.csv >progress.log 2>&1 ||
  { cat progress.log; fail "score with progress lines"; }
grep -qE "^score +[0-9]+/60 images .* eta [0-9]+:[0-9]{2}:[0-9]{2}" progress.log || { cat progress.log; fail "no progress line with ETA"; }
"$PY" - <<'PY' || fail "score output"
import csv, json, h5py, numpy as np
for k in (20, 300):
    rows = list(csv.DictReader(open(f"score{k}.csv")))
    assert list(rows[0].keys()) == ["index", "nll", "nelbo", "recon", "kl"], rows[0].keys()
    assert [int(r["index"]) for r in rows] == list(range(60))
    nll = np.array([float(r["nll"]) for r in rows]); nelbo = np.array([float(r["nelbo"]) for r in rows])
    assert np.isfinite(nll).all() and np.isfinite(nelbo).all()
    e = json.load(open(f"eval{k}.json"))
    print(f"k={k}: mean nll {nll.mean():.6f} eval iw_nll {e['iw_nll']:.6f}; mean nelbo {nelbo.mean():.6f} eval {e['test_nelbo']:.6f}")
    assert abs(nll.mean() - e["iw_nll"]) <= 1e-5 * abs(e["iw_nll"]), (nll.mean(), e["iw_nll"])
    assert abs(nelbo.mean() - e["test_nelbo"]) <= 1e-5 * abs(e["test_nelbo"]), (nelbo.mean(), e["test_nelbo"])
    if k == 20:
        with h5py.File("score20.h5") as f:
            assert sorted(f.keys()) == ["index", "kl", "nelbo", "nll", "recon"], list(f.keys())
            assert f["nll"].shape == (60,) and f["nll"].dtype == np.float32 and f.attrs["iw_samples"] == 20
            np.testing.assert_allclose(f["nll"][()], nll, rtol=1e-5)
            np.testing.assert_allclose(f["nelbo"][()], nelbo, rtol=1e-5)
PY

note "conditional model: labels from the shards"
"$PY" "$ELBO_SRC/tests/e2e/make_labelled_images.py" --out lab --count 300 --size 12 --classes 4 --seed 3
"$ELBO_BIN" data convert --images lab_images.npy --labels lab_labels.npy --out lab --shards 2 >/dev/null
write_config cc.yaml crun lab/manifest.yaml lab/manifest.yaml
cond=(--set model.conditional=true --set model.classes=4 --set 'model.hidden=[32]' --set model.latent=4)
elbo_np 1 train cc.yaml "${cond[@]}" --set train.steps=20 --set train.checkpoint_every=20 >ctrain.log 2>&1 ||
  { cat ctrain.log; fail "train conditional"; }
cck=crun/checkpoints/ckpt_000000020.h5
"$ELBO_BIN" interpolate --checkpoint $cck --index 0,1 --steps 4 --out cinterp.png >ci.log 2>&1 || { cat ci.log; fail "conditional interpolate"; }
[ "$(png_size cinterp.png)" = "86 16" ] || fail "cinterp.png is $(png_size cinterp.png)"
"$ELBO_BIN" encode --checkpoint $cck --out cenc.h5 >ce.log 2>&1 || { cat ce.log; fail "conditional encode"; }
"$ELBO_BIN" score --checkpoint $cck --iw-samples 10 --out cscore.csv >cs.log 2>&1 || { cat cs.log; fail "conditional score"; }
"$ELBO_BIN" eval --checkpoint $cck --set eval.iw_samples=10 --out ceval.json >cev.log 2>&1 || { cat cev.log; fail "conditional eval"; }
"$PY" - <<'PY' || fail "conditional outputs"
import csv, json, h5py, numpy as np
labels = np.load("lab_labels.npy")
with h5py.File("cenc.h5") as f:
    assert f["mu"].shape == (300, 4) and (f["labels"][()] == labels).all() and f["labels"].dtype == np.int32
rows = list(csv.DictReader(open("cscore.csv")))
assert list(rows[0].keys()) == ["index", "label", "nll", "nelbo", "recon", "kl"]
assert [int(r["label"]) for r in rows] == labels.tolist()
nll = np.mean([float(r["nll"]) for r in rows]); e = json.load(open("ceval.json"))
assert abs(nll - e["iw_nll"]) <= 1e-5 * abs(e["iw_nll"]), (nll, e["iw_nll"])
PY

note "conv_vae"
write_config cv.yaml cvrun train/manifest.yaml test/manifest.yaml
elbo_np 1 train cv.yaml --set model.type=conv_vae --set 'model.channels=[4, 8]' --set 'model.strides=[2, 1]' \
  --set train.steps=10 --set train.checkpoint_every=10 >cvtrain.log 2>&1 || { cat cvtrain.log; fail "train conv_vae"; }
cvk=cvrun/checkpoints/ckpt_000000010.h5
"$ELBO_BIN" interpolate --checkpoint $cvk --pairs 2 --steps 3 --out cvinterp.png >cvi.log 2>&1 || { cat cvi.log; fail "conv interpolate"; }
[ "$(png_size cvinterp.png)" = "62 26" ] || fail "cvinterp.png is $(png_size cvinterp.png)"
"$ELBO_BIN" encode --checkpoint $cvk --out cvenc.h5 >cve.log 2>&1 || { cat cve.log; fail "conv encode"; }
"$ELBO_BIN" score --checkpoint $cvk --iw-samples 5 --out cvscore.h5 >cvs.log 2>&1 || { cat cvs.log; fail "conv score"; }
"$PY" -c '
import h5py, numpy as np
with h5py.File("cvenc.h5") as f: assert f["mu"].shape == (60, 8) and np.isfinite(f["logvar"][()]).all()
with h5py.File("cvscore.h5") as f: assert f["nll"].shape == (60,) and np.isfinite(f["nll"][()]).all()
' || fail "conv outputs"

note "hvae (the top group's posterior)"
write_config hv.yaml hvrun train/manifest.yaml test/manifest.yaml
elbo_np 1 train hv.yaml --set model.type=hvae --set 'model.latents=[4, 8]' --set 'model.group_hidden=[24, 48]' \
  --set model.group_depth=1 --set train.steps=10 --set train.checkpoint_every=10 >hvtrain.log 2>&1 || { cat hvtrain.log; fail "train hvae"; }
hvk=hvrun/checkpoints/ckpt_000000010.h5
"$ELBO_BIN" interpolate --checkpoint $hvk --pairs 2 --steps 3 --out hvinterp.png >hvi.log 2>&1 || { cat hvi.log; fail "hvae interpolate"; }
"$ELBO_BIN" encode --checkpoint $hvk --out hvenc.h5 >hve.log 2>&1 || { cat hve.log; fail "hvae encode"; }
elbo_np 2 encode --checkpoint $hvk --batch 7 --out hvenc2.h5 >hve2.log 2>&1 || { cat hve2.log; fail "hvae encode on 2 ranks"; }
"$ELBO_BIN" score --checkpoint $hvk --iw-samples 10 --out hvscore.csv >hvs.log 2>&1 || { cat hvs.log; fail "hvae score"; }
"$ELBO_BIN" eval --checkpoint $hvk --set eval.iw_samples=10 --out hveval.json >hvev.log 2>&1 || { cat hvev.log; fail "hvae eval"; }
"$ELBO_BIN" reconstruct --checkpoint $hvk --top-groups all --out hvtop.png >hvt.log 2>&1 || { cat hvt.log; fail "hvae reconstruct --top-groups"; }
# 4 tiles of 10x10 per row: the images, then K = 0, 1, 2 (4 rows)
[ "$(png_size hvtop.png)" = "50 50" ] || fail "hvae --top-groups grid is $(png_size hvtop.png)"
"$PY" -c '
import csv, h5py, json, numpy as np
with h5py.File("hvenc.h5") as f:
    assert f["mu"].shape == (60, 4) and f["logvar"].shape == (60, 4)
    # every group: its posterior mean given the means above, and its KL
    assert f["group_0_mu"].shape == (60, 4) and f["group_1_mu"].shape == (60, 8) and f["group_kl"].shape == (60, 2)
    np.testing.assert_allclose(f["group_0_mu"][()], f["mu"][()], rtol=1e-6, atol=1e-7)  # the top group has none above
    kl = np.array([float(r["kl"]) for r in csv.DictReader(open("hvscore.csv"))])
    np.testing.assert_allclose(f["group_kl"][()].sum(1), kl, rtol=1e-5, atol=1e-5)
    assert (f["group_kl"][()] >= 0).all() and np.isfinite(f["group_1_mu"][()]).all()
    with h5py.File("hvenc2.h5") as g:  # 2 ranks, another batch: the same values (GEMMs of other row counts round alike to 1e-5)
        for name in ("mu", "logvar", "group_0_mu", "group_1_mu", "group_kl"):
            np.testing.assert_allclose(g[name][()], f[name][()], rtol=1e-5, atol=1e-6, err_msg=name)
nll = np.mean([float(r["nll"]) for r in csv.DictReader(open("hvscore.csv"))]); e = json.load(open("hveval.json"))
assert abs(nll - e["iw_nll"]) <= 1e-5 * abs(e["iw_nll"]), (nll, e["iw_nll"])
' || fail "hvae outputs"

note "sample --count N --seed S: N samples in rows of ceil(sqrt(N)); the same seed draws the same, another seed others"
"$ELBO_BIN" sample --checkpoint $ckpt --count 6 --seed 3 --out s6a.png >s6a.log 2>&1 || { cat s6a.log; fail "sample --count 6"; }
"$ELBO_BIN" sample --checkpoint $ckpt --count 6 --seed 3 --out s6b.png >s6b.log 2>&1 || { cat s6b.log; fail "sample again"; }
"$ELBO_BIN" sample --checkpoint $ckpt --count 6 --seed 4 --out s6c.png >s6c.log 2>&1 || { cat s6c.log; fail "sample --seed 4"; }
# 3 tiles of 10x10 per row, 2 rows, 2-pixel borders
[ "$(png_size s6a.png)" = "38 26" ] || fail "sample --count 6 wrote $(png_size s6a.png)"
cmp -s s6a.png s6b.png || fail "the same --seed drew other samples"
! cmp -s s6a.png s6c.png || fail "another --seed drew the same samples"

note "bad input: clear errors, nothing written or written over"
make_dataset wide 20 12 12 5 1
echo keep >kept.csv
# expect_error RC PATTERN ARGS...: elbo ARGS exits RC (or non-zero for "fail") and says PATTERN
expect_error() {
  local want=$1 pattern=$2 rc
  shift 2
  set +e
  "$ELBO_BIN" "$@" >bad.log 2>&1; rc=$?
  set -e
  { [ "$want" = fail ] && [ $rc -ne 0 ]; } || [ "$rc" = "$want" ] || { cat bad.log; fail "elbo $*: exit $rc"; }
  grep -qE -- "$pattern" bad.log || { cat bad.log; fail "elbo $*: no message like '$pattern'"; }
  echo "ok  elbo $*: $(grep -E -- "$pattern" bad.log | head -1)"
}
expect_error fail "--checkpoint: nope.h5 does not exist" score --checkpoint nope.h5 --data test/manifest.yaml --out kept.csv
expect_error fail "--data wide/manifest.yaml holds images of 1 x 12 x 12 .*, but the model of .* was trained on images of 1 x 10 x 10" \
  score --checkpoint $ckpt --data wide/manifest.yaml --out kept.csv
expect_error fail "--data wide/manifest.yaml holds images of 1 x 12 x 12" encode --checkpoint $ckpt --data wide/manifest.yaml --out w.h5
expect_error fail "--data wide/manifest.yaml holds images of 1 x 12 x 12" interpolate --checkpoint $ckpt --data wide/manifest.yaml --out w.png
# 9x9 images, which the conv_vae's stride-2 layer cannot even take: the error names the
# checkpoint's shape, the real cause, not the strides (it named only model.strides before).
make_dataset odd 20 9 9 6 1
expect_error fail "--data odd/manifest.yaml holds images of 1 x 9 x 9 .*, but the model of checkpoint $cvk was trained on images of 1 x 10 x 10" \
  encode --checkpoint $cvk --data odd/manifest.yaml --out w.h5
expect_error fail "data.test odd/manifest.yaml holds images of 1 x 9 x 9 .*trained on images of 1 x 10 x 10" \
  eval --checkpoint $cvk --set data.test=odd/manifest.yaml --out w.json
cp -r cvrun cvrun_before
expect_error fail "data.train odd/manifest.yaml holds images of 1 x 9 x 9 .*trained on images of 1 x 10 x 10" \
  train cv.yaml --set model.type=conv_vae --set 'model.channels=[4, 8]' --set 'model.strides=[2, 1]' \
  --set train.steps=20 --set data.train=odd/manifest.yaml --set data.test=
diff -r cvrun cvrun_before >/dev/null || fail "the refused resume changed cvrun"
# ...but when run.dir's checkpoint holds another model, the model in use is what fails.
expect_error fail "model.strides\\[0\\] = 2: .*9x9" \
  train cv.yaml --set model.type=conv_vae --set 'model.channels=[4, 6]' --set 'model.strides=[2, 1]' \
  --set train.steps=20 --set data.train=odd/manifest.yaml --set data.test=
diff -r cvrun cvrun_before >/dev/null || fail "the refused run changed cvrun"
expect_error fail "--data: missing/manifest.yaml does not exist" encode --checkpoint $ckpt --data missing/manifest.yaml --out w.h5
expect_error fail "--data: test is a folder.*did you mean test/manifest.yaml" encode --checkpoint $ckpt --data test --out w.h5
expect_error fail "--index 0,99: .*holds images 0..59" interpolate --checkpoint $ckpt --index 0,99 --out w.png
expect_error fail "model.conditional: --data wide/manifest.yaml holds no labels" encode --checkpoint $cck --data wide/manifest.yaml --out w.h5
expect_error fail "a conditional model interpolates labelled images; wide/manifest.yaml holds no labels" \
  interpolate --checkpoint $cck --data wide/manifest.yaml --out w.png
expect_error 2 "--out is required" encode --checkpoint $ckpt
expect_error 2 "--out scores.txt: expected a file name ending in .csv or .h5" score --checkpoint $ckpt --out scores.txt
expect_error 2 "--steps 1: expected a whole number from 2" interpolate --checkpoint $ckpt --steps 1 --out w.png
expect_error 2 "--index 3: expected pairs" interpolate --checkpoint $ckpt --index 3 --out w.png
expect_error 2 "--iw-samples 0: expected a whole number" score --checkpoint $ckpt --iw-samples 0 --out w.csv
expect_error 2 "--count 0: expected a number of samples, 1 .. 10000" sample --checkpoint $ckpt --count 0 --out w.png
expect_error 2 "--count 20000: expected a number of samples" sample --checkpoint $ckpt --count 20000 --out w.png
expect_error 2 "--seed -1: expected an integer >= 0" sample --checkpoint $ckpt --seed -1 --out w.png
expect_error 2 "--seed x: expected an integer >= 0" sample --checkpoint $ckpt --seed x --out w.png
[ "$(cat kept.csv)" = keep ] || fail "kept.csv was written over"
for f in w.h5 w.png w.csv w.json w.h5.tmp kept.csv.tmp; do [ ! -e $f ] || fail "$f was written"; done
echo PASS
