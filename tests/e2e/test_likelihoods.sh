#!/usr/bin/env bash
# The likelihoods end to end (docs/models.md, Likelihoods) on grey-level 8-bit images: the
# discretized logistic trains (its loss falls), reaches the same parameters on 1 and 2
# ranks, evaluates (an IW NLL in bits per dimension below 8, the cost of storing the raw
# bytes) and samples; the Gaussian trains too; the discretized logistic on binarized data
# is refused before anything is written.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 600 14 14 1
make_dataset test 100 14 14 2 1
grey=(--set data.binarize=none --set train.steps=40 --set train.checkpoint_every=0 --set train.sample_grid=4
      --set train.log_every=10)
for np in 1 2; do
  write_config dl$np.yaml dl$np data/manifest.yaml test/manifest.yaml
  elbo_np $np train dl$np.yaml "${grey[@]}" --set model.likelihood=discretized_logistic >dl$np.log 2>&1 ||
    { cat dl$np.log; fail "discretized logistic on $np ranks"; }
done
note "discretized logistic: 1 rank vs 2 ranks"
compare_ckpt dl2/checkpoints/ckpt_000000040.h5 dl1/checkpoints/ckpt_000000040.h5 --rtol 1e-5 ||
  fail "2 ranks differ from 1 rank"
"$PY" - dl1/metrics.jsonl <<'PY' || fail "the discretized logistic's loss did not fall"
import json, sys
loss = [json.loads(l)["loss"] for l in open(sys.argv[1])]
assert loss[-1] < loss[0] - 20, loss
print("loss", loss)
PY

note "eval and sample"
elbo_np 1 eval dl1.yaml "${grey[@]}" --set model.likelihood=discretized_logistic --set eval.iw_samples=10 \
  >eval.log 2>&1 || { cat eval.log; fail "eval"; }
"$PY" - dl1/eval.json <<'PY' || { cat eval.log; fail "eval results"; }
import json, sys
e = json.load(open(sys.argv[1]))
assert 0 < e["iw_nll_bits_per_dim"] < 8, e
assert e["iw_nll"] <= e["test_nelbo"] + 0.5, e
PY
"$ELBO_BIN" sample --checkpoint dl1/checkpoints/ckpt_000000040.h5 --out dl_samples.png >sample.log 2>&1 ||
  { cat sample.log; fail "sample"; }
[[ -s dl_samples.png ]] || fail "no sample grid"

note "gaussian"
write_config g.yaml g data/manifest.yaml
elbo_np 1 train g.yaml "${grey[@]}" --set model.likelihood=gaussian >g.log 2>&1 || { cat g.log; fail "gaussian"; }

note "the discretized logistic on binarized data is refused, nothing written"
write_config bad.yaml bad data/manifest.yaml
if "$ELBO_BIN" train bad.yaml --set model.likelihood=discretized_logistic >bad.log 2>&1; then
  fail "binarized data with the discretized logistic was accepted"
fi
grep -q "data.binarize" bad.log && grep -q "discretized_logistic" bad.log || { cat bad.log; fail "unclear error"; }
[[ ! -e bad ]] || fail "the refused run wrote $(ls bad)"
echo PASS
