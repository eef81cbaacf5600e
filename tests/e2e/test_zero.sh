#!/usr/bin/env bash
# dist.zero (ZeRO-1, the sharded optimizer, its gradients reduce-scattered over the node's
# shared memory): on 1, 2 and 4 ranks the sharded run's
# checkpoints (parameters, Adam moments, weight average, skip counts) are bitwise those of
# the unsharded run on the same ranks, also with clipping, a skip threshold and a weight
# average at work; 1, 2 and 4 sharded ranks agree like unsharded ones (1e-5); the start
# line reports the optimizer memory per rank; and checkpoints do not depend on the
# sharding: a sharded 2-rank checkpoint resumed sharded on 4 ranks equals an unsharded
# 2-rank checkpoint resumed unsharded on 4 ranks, and a sharded checkpoint resumed
# without sharding continues the unsharded run bit for bit.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 1000 14 14 1
quiet=(--set train.sample_grid=0)
# Clipping at work on every step (the norms here are 6 to 20), a few steps skipped over the
# threshold, a weight average kept, and validation keeping a best checkpoint (its moments
# gathered from the shards at a validation step).
guarded=(--set train.grad_clip=3 --set train.skip_threshold=18 --set train.ema_decay=0.9
         --set data.valid=data/manifest.yaml --set train.valid_every=20 --set train.valid_images=200)

# run NAME NP ZERO [--set ...]: 50 steps, checkpoints at 25 and 50
run() {
  local name=$1 np=$2 zero=$3
  shift 3
  write_config $name.yaml $name data/manifest.yaml
  elbo_np $np train $name.yaml "${quiet[@]}" --set dist.zero=$zero "$@" >$name.log 2>&1 || { cat $name.log; fail "$name on $np ranks"; }
}
ckpt() { echo "$1/checkpoints/ckpt_0000000$2.h5"; }

for np in 1 2 4; do
  run base$np $np false
  run zero$np $np true
  note "$np ranks: sharded = unsharded, bitwise"
  for s in 25 50; do
    compare_ckpt $(ckpt zero$np $s) $(ckpt base$np $s) --bitwise --optimizer --state || fail "$np ranks: zero differs at step $s"
  done
  cmp <(loss_log base$np/metrics.jsonl) <(loss_log zero$np/metrics.jsonl) || fail "$np ranks: loss logs differ"
done
grep -q "optimizer state .* MB per rank (ZeRO-1: rank 0's shard, 1/4 of" zero4.log || { cat zero4.log; fail "no optimizer memory line"; }
# One node of CPU ranks: the gradients are reduce-scattered, not all-reduced (and the
# checkpoints above are still the unsharded bits).
for np in 2 4; do
  grep -q "dist.zero: gradients reduce-scattered" zero$np.log || { cat zero$np.log; fail "$np ranks: not reduce-scattered"; }
done

note "1 rank vs 2 and 4 sharded ranks"
for np in 2 4; do
  compare_ckpt $(ckpt zero$np 50) $(ckpt zero1 50) --rtol 1e-5 || fail "$np sharded ranks differ from 1 rank"
done

note "clipping, a skip threshold, a weight average and the best checkpoint, on 4 ranks"
run gbase 4 false "${guarded[@]}"
run gzero 4 true "${guarded[@]}"
compare_ckpt $(ckpt gzero 50) $(ckpt gbase 50) --bitwise --optimizer --state || fail "guarded run: zero differs"
best=$(cd gbase/best/checkpoints && ls ckpt_*.h5)
[ -f gzero/best/checkpoints/$best ] || fail "the sharded run kept another best checkpoint than $best"
compare_ckpt gzero/best/checkpoints/$best gbase/best/checkpoints/$best --bitwise --optimizer --state ||
  fail "best checkpoint: zero differs"
"$PY" - gbase/metrics.jsonl gbase/checkpoints/ckpt_000000050.h5 <<'PY' || fail "the guard was not at work"
import json, sys, h5py
norms = [json.loads(l)["grad_norm"] for l in open(sys.argv[1])]
skipped = int(h5py.File(sys.argv[2], "r").attrs["skipped_over_threshold"])
print(f"logged gradient norms {min(norms):.3f} .. {max(norms):.3f}, {skipped} steps skipped over the threshold")
assert min(norms) > 3, "clipping must scale every logged step"
assert 0 < skipped < 50, "some steps, not all, must be skipped"
PY

# resume NAME NP ZERO FROM_CKPT: a new run directory holding only FROM_CKPT, trained on to step 50
resume() {
  local name=$1 np=$2 zero=$3 from=$4
  mkdir -p $name/checkpoints
  cp $from $name/checkpoints/
  run $name $np $zero
  grep -q "resuming from .*ckpt_000000025.h5" $name.log || { cat $name.log; fail "$name did not resume"; }
}
note "a sharded 2-rank checkpoint resumed sharded on 4 ranks = unsharded on both"
resume z2to4 4 true $(ckpt zero2 25)
resume b2to4 4 false $(ckpt base2 25)
compare_ckpt $(ckpt z2to4 50) $(ckpt b2to4 50) --bitwise --optimizer --state || fail "sharded resume on 4 ranks differs"
note "a sharded 4-rank checkpoint resumed without sharding continues the unsharded run exactly"
resume z4plain 4 false $(ckpt zero4 25)
compare_ckpt $(ckpt z4plain 50) $(ckpt base4 50) --bitwise --optimizer --state || fail "unsharded resume differs"
note "an unsharded 1-rank checkpoint resumed sharded on 2 ranks agrees with 1 rank"
resume b1to2 2 true $(ckpt base1 25)
compare_ckpt $(ckpt b1to2 50) $(ckpt base1 50) --rtol 1e-5 --optimizer || fail "sharded resume on 2 ranks diverged"
echo PASS
