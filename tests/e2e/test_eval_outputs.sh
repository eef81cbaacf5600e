#!/usr/bin/env bash
# elbo eval while it runs and after: progress lines with an ETA on rank 0 (k = 5000 on a
# few hundred images), results named after the checkpoint's step (and the image count
# of a subset), eval.json only for a whole-test-set evaluation of a checkpoint of
# run.dir, results of a checkpoint outside run.dir next to it (no CONFIG needed: the
# checkpoint's stored config is used), --out creating its folders, and an interrupted
# evaluation (and an interrupted elbo score, on 1 rank and on 2 into HDF5) saying so, exiting non-zero within seconds and
# writing nothing. Conversion and sampling report progress the same way.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset train 600 12 12 5 2
make_dataset test 2000 12 12 6 1
write_config c.yaml run train/manifest.yaml test/manifest.yaml
elbo_np 1 train c.yaml --set train.steps=30 --set train.checkpoint_every=10 --set train.sample_grid=0 \
  --set 'model.hidden=[16]' >train.log 2>&1 || { cat train.log; fail "train"; }

"$ELBO_BIN" data inspect test/manifest.yaml --verify >inspect.txt || fail "inspect"
grep -q " in 1 shard$" inspect.txt && grep -q "^checksums   1 shard verified$" inspect.txt ||
  { cat inspect.txt; fail "no singular '1 shard'"; }

note "progress of k = 5000 on 300 images"
ELBO_PROGRESS_EVERY_S=0.3 elbo_np 1 eval c.yaml --set eval.iw_samples=5000 --set eval.max_images=300 \
  --set 'model.hidden=[16]' >progress.log 2>&1 || { cat progress.log; fail "eval k=5000"; }
cat progress.log
grep -Eq "^eval  [0-9]+/300 images \([0-9]+%\)  [0-9.]+ images/s  eta [0-9]+:[0-9]{2}:[0-9]{2}$" progress.log ||
  fail "no progress line"
[ -f run/eval_step000000030_first300.json ] || { ls run; fail "subset result not named eval_step000000030_first300.json"; }
[ ! -e run/eval.json ] || fail "a subset evaluation wrote eval.json"
"$PY" - run/eval_step000000030_first300.json <<'PY' || fail "subset result content"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["images"] == 300 and e["test_set_images"] == 2000 and e["iw_k"] == 5000 and e["step"] == 30, e
PY

note "whole test set: eval_step<S>.json and eval.json (the latest whole-set evaluation); a subset leaves it alone"
h=(--set 'model.hidden=[16]')
elbo_np 2 eval c.yaml "${h[@]}" >full.log 2>&1 || { cat full.log; fail "full eval"; }
grep -q "wrote run/eval_step000000030.json (and run/eval.json)" full.log || { cat full.log; fail "full eval outputs"; }
cmp <(grep -v copy_of run/eval.json) run/eval_step000000030.json || fail "eval.json is not a copy of the full evaluation"
grep -q '"copy_of": "eval_step000000030.json"' run/eval.json || fail "eval.json does not say what it copies"
cp run/eval.json eval_before.json
elbo_np 1 eval c.yaml "${h[@]}" --set eval.max_images=50 >sub.log 2>&1 || { cat sub.log; fail "subset eval"; }
elbo_np 1 eval c.yaml "${h[@]}" --checkpoint run/checkpoints/ckpt_000000020.h5 >old.log 2>&1 || { cat old.log; fail "older eval"; }
[ -f run/eval_step000000020.json ] && [ -f run/eval_step000000030_first50.json ] || { ls run; fail "per-checkpoint names"; }
# A whole-set evaluation of an older checkpoint of this run is the latest full one.
grep -q '"step": 20' run/eval.json || fail "eval.json does not follow the latest full evaluation"

note "a checkpoint outside run.dir, without CONFIG: results next to it; run.dir untouched"
mkdir elsewhere && cp run/checkpoints/ckpt_000000030.h5 elsewhere/
before=$(cd run && find . -type f | sort | xargs sha256sum)
"$ELBO_BIN" eval --checkpoint elsewhere/ckpt_000000030.h5 --set eval.iw_samples=3 >outside.log 2>&1 || { cat outside.log; fail "eval of an outside checkpoint"; }
[ -f elsewhere/eval_step000000030.json ] || { ls elsewhere; cat outside.log; fail "result not next to the checkpoint"; }
[ "$(cd run && find . -type f | sort | xargs sha256sum)" = "$before" ] || fail "run.dir changed"

note "--out into folders that do not exist yet; a folder as --out"
elbo_np 1 eval c.yaml "${h[@]}" --set eval.iw_samples=3 --out new/deeper/result.json >out.log 2>&1 || { cat out.log; fail "--out"; }
[ -f new/deeper/result.json ] || fail "--out file missing"
mkdir results && elbo_np 1 eval c.yaml "${h[@]}" --set eval.iw_samples=3 --out results >out2.log 2>&1 || { cat out2.log; fail "--out DIR"; }
[ -f results/eval_step000000030.json ] || { ls results; fail "--out DIR: default name inside"; }

note "data convert and sample print progress lines too (interval forced short)"
ELBO_PROGRESS_EVERY_S=0.000001 "$ELBO_BIN" data convert --images test.npy --out test_again --shards 4 >convert.log 2>&1 ||
  { cat convert.log; fail "convert"; }
grep -Eq "^convert  [0-9]+/2000 images \([0-9]+%\)  .* eta " convert.log || { cat convert.log; fail "no convert progress"; }
ELBO_PROGRESS_EVERY_S=0.000001 "$ELBO_BIN" sample c.yaml "${h[@]}" --set train.sample_grid=32 --out big.png >big.log 2>&1 ||
  { cat big.log; fail "sample 32 x 32"; }
grep -Eq "^sample  [0-9]+/1024 images" big.log || { cat big.log; fail "no sample progress"; }

note "Ctrl-C: says so, exits non-zero within seconds, writes nothing"
# interrupt NAME SIGNAL PID-PATTERN COMMAND...: start, wait for a progress line, signal, time the exit
interrupt() {
  local name=$1 sig=$2 who=$3
  shift 3
  ELBO_PROGRESS_EVERY_S=0.2 "$@" --set eval.iw_samples=5000 --out "$name.json" >"$name.log" 2>&1 &
  local pid=$! target
  for _ in $(seq 600); do grep -q "^eval " "$name.log" && break; sleep 0.1; done
  grep -q "^eval " "$name.log" || { cat "$name.log"; fail "$name: no progress line to interrupt"; }
  target=$([ "$who" = launcher ] && echo $pid || pgrep -f -n "elbo eval c.yaml.*$name.json")
  local t0=$(date +%s.%N)
  kill -"$sig" "$target"
  set +e
  wait $pid
  local rc=$?
  set -e
  local secs=$("$PY" -c "import sys; print(round($(date +%s.%N) - $t0, 1))")
  cat "$name.log"
  [ $rc -ne 0 ] || fail "$name: exit 0 after $sig"
  grep -q "evaluation interrupted by SIG" "$name.log" || fail "$name: does not say it was interrupted"
  [ ! -e "$name.json" ] || fail "$name: wrote a result"
  "$PY" -c "assert $secs < 10, 'took $secs s'" || fail "$name: took $secs s to stop"
  echo "ok  $name: exit $rc after $secs s"
}
interrupt single INT self "$ELBO_BIN" eval c.yaml "${h[@]}"
interrupt mpirun INT launcher "$MPIEXEC" -np 2 --oversubscribe "$ELBO_BIN" eval c.yaml "${h[@]}"

note "Ctrl-C during elbo score (it said nothing and was killed before): says so, writes nothing"
# await_score_progress LOG NAME: waits for score's first progress line in LOG
await_score_progress() {
  for _ in $(seq 600); do grep -q "^score " "$1" && break; sleep 0.1; done
  grep -q "^score " "$1" || { cat "$1"; fail "$2: no progress line to interrupt"; }
}
# interrupt_pid PID LOG: SIGINT to PID, waits for it, prints LOG; its exit status in rc
interrupt_pid() {
  kill -INT "$1"
  set +e
  wait "$1"
  rc=$?
  set -e
  cat "$2"
}
ELBO_PROGRESS_EVERY_S=0.2 "$ELBO_BIN" score c.yaml "${h[@]}" --data test/manifest.yaml --iw-samples 5000 \
  --out scores.csv >score.log 2>&1 &
pid=$!
await_score_progress score.log score
interrupt_pid $pid score.log
[ $rc -ne 0 ] || fail "score: exit 0 after SIGINT"
grep -q "score interrupted by SIGINT after [0-9]* of 2000 images of this rank; no result was written" score.log ||
  fail "score: does not say it was interrupted"
[ ! -e scores.csv ] && [ -z "$(ls scores.csv.* 2>/dev/null)" ] || fail "score: left a file behind"

note "Ctrl-C to mpirun during a 2-rank score into HDF5, which rank 0 writes while the ranks work:"
note "the half-written scores.h5.tmp is removed and the scores.h5 already there is kept"
echo "an earlier result" >scores.h5
ELBO_PROGRESS_EVERY_S=0.2 "$MPIEXEC" -np 2 --oversubscribe "$ELBO_BIN" score c.yaml "${h[@]}" --data test/manifest.yaml \
  --iw-samples 5000 --batch 50 --out scores.h5 >score2.log 2>&1 &
pid=$!
await_score_progress score2.log "2-rank score"
[ -e scores.h5.tmp ] || { cat score2.log; ls; fail "2-rank score: rank 0 is not writing as it goes"; }
interrupt_pid $pid score2.log
[ $rc -ne 0 ] || fail "2-rank score: exit 0 after SIGINT"
grep -q "score interrupted by SIG" score2.log || fail "2-rank score: does not say it was interrupted"
[ "$(cat scores.h5)" = "an earlier result" ] || fail "2-rank score: the earlier scores.h5 was overwritten"
[ ! -e scores.h5.tmp ] || fail "2-rank score: left scores.h5.tmp behind"
echo PASS
