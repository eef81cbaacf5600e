#!/usr/bin/env bash
# 1 rank x 128, 2 ranks x 64 and 4 ranks x 32 (oversubscribed) reach the same
# parameters after 50 steps (1e-5 relative); the same run repeated is bitwise identical;
# one rank on 1 and on 3 threads (GEMMs cut into blocks over the CPU backend's pool) is
# bitwise identical too.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 1000 14 14 1
for np in 1 2 4; do
  write_config c$np.yaml run$np data/manifest.yaml
  elbo_np $np train c$np.yaml --set train.checkpoint_every=0 --set train.sample_grid=0 >log$np.txt 2>&1 || { cat log$np.txt; fail "train on $np ranks"; }
done
write_config c2r.yaml run2r data/manifest.yaml
elbo_np 2 train c2r.yaml --set train.checkpoint_every=0 --set train.sample_grid=0 >log2r.txt 2>&1 || fail "repeat"
for np in 2 4; do
  note "1 rank vs $np ranks"
  compare_ckpt run$np/checkpoints/ckpt_000000050.h5 run1/checkpoints/ckpt_000000050.h5 --rtol 1e-5 || fail "$np ranks differ from 1 rank"
done
note "repeat of the 2-rank run"
compare_ckpt run2r/checkpoints/ckpt_000000050.h5 run2/checkpoints/ckpt_000000050.h5 --bitwise --optimizer || fail "repeat not bitwise identical"
cmp <(loss_log run2/metrics.jsonl) <(loss_log run2r/metrics.jsonl) || fail "repeat loss log differs"
note "1 rank on 1 thread vs 3 threads (layers large enough for the GEMMs to be cut)"
for t in 1 3; do
  write_config t$t.yaml threads$t data/manifest.yaml
  OPENBLAS_NUM_THREADS=$t "$MPIEXEC" -np 1 --bind-to none "$ELBO_BIN" train t$t.yaml --set 'model.hidden=[256, 128]' --set train.steps=20 \
    --set train.checkpoint_every=0 --set train.sample_grid=0 >logt$t.txt 2>&1 || { cat logt$t.txt; fail "train on $t threads"; }
done
grep -q "3 threads" logt3.txt || fail "the 3-thread run did not use 3 threads: $(grep 'replica on' logt3.txt)"
grep -q "(oneDNN, 1 thread)" logt1.txt || fail "the 1-thread run does not say '1 thread': $(grep 'replica on' logt1.txt)"
compare_ckpt threads3/checkpoints/ckpt_000000020.h5 threads1/checkpoints/ckpt_000000020.h5 --bitwise --optimizer ||
  fail "3 threads differ from 1 thread"
echo PASS
