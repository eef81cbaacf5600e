#!/usr/bin/env bash
# Per-group KL weights of the hvae (docs/models.md, Objectives): KL balancing and free bits
# per group decide on the global batch, so 1 rank x 128 and 2 x 64 train the same model;
# they change the training (against a run without them); a group that collapses is named;
# the keys refuse models without groups and balancing without a KL ramp.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 1000 12 12 3
hvae=(--set model.type=hvae --set 'model.latents=[3, 4, 6]' --set 'model.group_hidden=[16, 24, 32]'
      --set model.group_depth=1 --set model.activation=tanh --set train.checkpoint_every=0 --set train.sample_grid=0
      --set train.steps=40 --set train.kl_warmup_steps=30)
groups=(--set train.kl_balance=true --set train.free_bits=0.05 --set train.free_bits_per=group)
for np in 1 2; do
  write_config g$np.yaml groups$np data/manifest.yaml
  elbo_np $np train g$np.yaml "${hvae[@]}" "${groups[@]}" >g$np.log 2>&1 || { cat g$np.log; fail "train on $np ranks"; }
done
write_config plain.yaml plain data/manifest.yaml
elbo_np 1 train plain.yaml "${hvae[@]}" >plain.log 2>&1 || { cat plain.log; fail "train without group weights"; }
grep -q "KL balancing" g1.log || { cat g1.log; fail "the start line does not name KL balancing"; }
grep -q "free bits 0.05 nats/group" g1.log || { cat g1.log; fail "the start line does not name free bits per group"; }
note "1 rank vs 2 ranks with KL balancing and free bits per group"
compare_ckpt groups2/checkpoints/ckpt_000000040.h5 groups1/checkpoints/ckpt_000000040.h5 --rtol 1e-5 ||
  fail "2 ranks differ from 1 rank"
note "the group weights change the training"
! compare_ckpt groups1/checkpoints/ckpt_000000040.h5 plain/checkpoints/ckpt_000000040.h5 --rtol 1e-6 >/dev/null ||
  fail "KL balancing and free bits per group made no difference"

note "a KL weight so large that the groups collapse: each group is named once"
write_config big.yaml big data/manifest.yaml
elbo_np 1 train big.yaml "${hvae[@]}" --set train.beta=300 --set train.kl_warmup_steps=0 --set train.steps=60 \
  >big.log 2>&1 || { cat big.log; fail "collapsing run"; }
for l in 0 1 2; do
  [ "$(grep -c "stochastic group $l (0 = top) has collapsed" big.log)" -eq 1 ] ||
    { cat big.log; fail "group $l: expected one collapse warning"; }
done

note "the keys refuse what they cannot do"
expect_config_error() {
  local pattern=$1
  shift
  write_config bad.yaml bad data/manifest.yaml
  if "$ELBO_BIN" train bad.yaml "$@" >bad.log 2>&1; then cat bad.log; fail "accepted: $*"; fi
  grep -q "$pattern" bad.log || { cat bad.log; fail "expected '$pattern'"; }
  [ ! -d bad/checkpoints ] || fail "a refused config wrote checkpoints"
}
expect_config_error "key 'train.kl_balance' balances the KL of stochastic groups" --set train.kl_balance=true
expect_config_error "key 'train.free_bits_per' is group, which needs stochastic groups" --set train.free_bits_per=group
expect_config_error "it needs train.objective: elbo and train.kl_warmup_steps" "${hvae[@]}" --set train.kl_warmup_steps=0 \
  --set train.kl_balance=true
echo PASS
