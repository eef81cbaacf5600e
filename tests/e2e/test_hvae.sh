#!/usr/bin/env bash
# The hierarchical VAE (model.type: hvae) keeps the data-parallel promises of the other
# models: a two-group hvae trains 50 steps on 1 rank x 128, 2 x 64 and 4 x 32 to the same
# parameters (1e-5 relative), with the merge posterior under the ELBO and with the
# residual posterior under the IWAE bound (k samples of every group per image); then
# evaluates (the IW NLL bounds the negative ELBO) and samples (the top group from
# N(0, I), the lower one from its prior).
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 1000 14 14 3
make_dataset test 200 14 14 4 2
hvae=(--set model.type=hvae --set 'model.latents=[4, 8]' --set 'model.group_hidden=[24, 48]'
      --set model.group_depth=1 --set model.activation=tanh --set train.checkpoint_every=0 --set train.sample_grid=0)
iwae=(--set model.posterior=residual --set train.objective=iwae --set train.iw_samples=3)
for np in 1 2 4; do
  write_config c$np.yaml run$np data/manifest.yaml test/manifest.yaml
  elbo_np $np train c$np.yaml "${hvae[@]}" >log$np.txt 2>&1 || { cat log$np.txt; fail "train on $np ranks"; }
  write_config i$np.yaml iwae$np data/manifest.yaml
  elbo_np $np train i$np.yaml "${hvae[@]}" "${iwae[@]}" >ilog$np.txt 2>&1 || { cat ilog$np.txt; fail "iwae on $np ranks"; }
done
for np in 2 4; do
  note "1 rank vs $np ranks (merge, elbo; residual, iwae)"
  compare_ckpt run$np/checkpoints/ckpt_000000050.h5 run1/checkpoints/ckpt_000000050.h5 --rtol 1e-5 ||
    fail "$np ranks differ from 1 rank"
  compare_ckpt iwae$np/checkpoints/ckpt_000000050.h5 iwae1/checkpoints/ckpt_000000050.h5 --rtol 1e-5 ||
    fail "iwae: $np ranks differ from 1 rank"
done
"$PY" -c "
import h5py
f = h5py.File('run1/checkpoints/ckpt_000000050.h5')
shapes = {k: f['params'][k].shape for k in ['encoder.1.0.weight', 'encoder.0.q.weight', 'prior.1.weight', 'decoder.out.weight']}
assert shapes == {'encoder.1.0.weight': (48, 196), 'encoder.0.q.weight': (8, 24), 'prior.1.weight': (16, 24),
                  'decoder.out.weight': (196, 48)}, shapes
" || fail "hvae checkpoint layout"
note "the KL of each group in the metrics (elbo runs), adding up to the KL"
"$PY" - run1/metrics.jsonl <<'PY' || fail "per-group KL"
import json, sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
groups = [last["kl_group_0"], last["kl_group_1"]]
assert "kl_group_2" not in last, last
assert abs(sum(groups) - last["kl"]) <= 1e-4 * max(1.0, last["kl"]), (groups, last["kl"])
print("kl per group", groups, "total", last["kl"])
PY
note "eval and sample; eval's KL per group (2 ranks' sums) adds up to its KL"
elbo_np 2 eval c1.yaml "${hvae[@]}" >eval.log 2>&1 || { cat eval.log; fail "eval"; }
"$PY" - run1/eval.json <<'PY' || { cat eval.log; fail "eval results inconsistent"; }
import json, sys
e = json.load(open(sys.argv[1]))
assert e["images"] == 200 and e["iw_k"] == 20, e
assert e["iw_nll"] <= e["test_nelbo"] + 0.5, e
groups = e["test_kl_per_group"]
assert len(groups) == 2 and min(groups) >= 0.0, e
assert abs(sum(groups) - e["test_kl"]) <= 1e-5 * max(1.0, e["test_kl"]), (groups, e["test_kl"])
print("eval kl per group", groups, "total", e["test_kl"])
PY
grep -Eq "group 1 +[0-9]+ of [0-9]+  kl [0-9.]+" eval.log || { cat eval.log; fail "eval does not print group 1's KL"; }
"$ELBO_BIN" sample c1.yaml "${hvae[@]}" --checkpoint run1/checkpoints/ckpt_000000050.h5 >sample.log 2>&1 ||
  { cat sample.log; fail "sample"; }
[ -s run1/samples_step000000050.png ] || { cat sample.log; fail "sample did not write run1/samples_step000000050.png"; }
echo PASS
