#!/usr/bin/env bash
# Bounded memory: a shard set several times larger than the loader's budget is
# streamed, and each rank's peak resident memory stays within the budget plus the
# model's own. "The model's own" is measured, not guessed: the same training on a
# tiny data set of the same image shape (cached whole) gives each rank's baseline
# (binary, MPI, model, optimiser, activations). Resident memory is read from /proc
# while the ranks run.
source "$ELBO_SRC/tests/e2e/lib.sh"
budget_mb=16
make_dataset big 20000 64 64 11 6     # 20000 x 4096 B = 78 MiB, about 5x the budget
make_dataset tiny 512 64 64 12 1
cat >c.yaml <<YAML
run: {dir: run, seed: 3}
data: {train: big/manifest.yaml, binarize: dynamic, memory_budget_mb: $budget_mb, prefetch_batches: 4}
model: {hidden: [64], latent: 8}
train: {global_batch: 128, steps: 200, log_every: 50, checkpoint_every: 0, sample_grid: 0}
YAML
# peak_anon_kib TAG ARGS...: runs 2 ranks and prints the larger peak of their anonymous
# resident memory. Anonymous memory is what a loader can grow; file-backed pages of
# shared libraries (hundreds of MiB once the CUDA libraries are linked in) say nothing
# about it and vary from run to run. Every 20 ms each rank's RssAnon is read, and so is
# the kernel's own high-water mark VmHWM less the file-backed and shared pages resident
# then (RssFile, RssShmem: mapped once, they only grow): the peak a 20 ms sampling can
# miss (a sampled RssAnon alone once made this test fail by chance).
peak_anon_kib() {
  local tag=$1
  shift
  "$MPIEXEC" -np 2 --oversubscribe "$ELBO_BIN" "$@" >"$tag.log" 2>&1 &
  local launcher=$! peak=0 pid kib
  while kill -0 $launcher 2>/dev/null; do
    for pid in $(pgrep -P $launcher); do
      kib=$(awk '/^RssAnon:/ {a = $2} /^VmHWM:/ {h = $2} /^RssFile:/ {f = $2} /^RssShmem:/ {s = $2}
                 END {if (a != "") {w = h - f - s; print (w > a ? w : a)}}' /proc/$pid/status 2>/dev/null || true)
      [ -n "$kib" ] && [ "$kib" -gt "$peak" ] && peak=$kib
    done
    sleep 0.02
  done
  wait $launcher || { cat "$tag.log" >&2; fail "$tag run"; }
  echo "$peak"
}
# The baseline of a 2-rank launch varies by up to ~10 MiB from run to run (Open MPI's
# start-up under oversubscription): the largest of three runs.
base=0
for i in 1 2 3; do
  b=$(peak_anon_kib base$i train c.yaml --set data.train=tiny/manifest.yaml --set run.dir=run_base$i)
  [ "$b" -gt "$base" ] && base=$b
done
big=$(peak_anon_kib big train c.yaml)
grep -q "step 200/200" big.log || { cat big.log; fail "big run did not finish"; }
limit=$((base + budget_mb * 1024))
echo "peak anonymous RSS per rank: baseline ${base} KiB, streaming 78 MiB data set ${big} KiB, limit ${limit} KiB (budget ${budget_mb} MiB)"
[ "$big" -le "$limit" ] || fail "peak anonymous RSS ${big} KiB exceeds baseline + budget = ${limit} KiB"
# And the budget is what made the difference: with a budget that holds the set, it is cached.
cached=$(peak_anon_kib cached train c.yaml --set data.memory_budget_mb=400 --set run.dir=run_cached)
echo "same run with a 400 MiB budget (data cached in RAM): ${cached} KiB"
[ "$cached" -gt "$limit" ] || fail "the cached run should hold the whole set in memory (${cached} KiB)"
echo PASS
