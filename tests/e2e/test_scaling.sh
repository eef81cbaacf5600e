#!/usr/bin/env bash
# launch/scaling.sh on 1 and 2 ranks (40 steps, generated data): it writes scaling.csv,
# scaling.json, projection.csv and scaling.png, and they agree with each other and with
# the definitions of docs/scaling.md: speedup 1 at the smallest rank count, efficiency =
# speedup / (ranks / base ranks), samples/s = global batch / step time, the step split
# summing to the step, no all-reduce on 1 rank, the parameter count of the model, the
# model's all-reduce from its fitted alpha and beta, and the projection's efficiencies.
# Bad arguments fail with a message. Timings are not checked: they depend on the machine.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 1000 14 14 1
write_config c.yaml unused data/manifest.yaml
SCALING="$ELBO_SRC/launch/scaling.sh"
BENCH=$(dirname "$ELBO_BIN")/elbo_allreduce_bench
[ -x "$BENCH" ] || { echo "SKIP: no $BENCH (configure with -DELBO_BENCH=ON)"; exit 77; }

note "sweep on 1 and 2 ranks"
bash "$SCALING" --config c.yaml --ranks "1 2" --steps 40 --warmup 10 --log-every 10 --elbo "$ELBO_BIN" --out out \
  --label "e2e test" >sweep.txt 2>&1 || { cat sweep.txt; fail "scaling.sh"; }
cat sweep.txt
for f in scaling.csv scaling.json projection.csv scaling.png; do [ -s out/$f ] || fail "no out/$f"; done
grep -q "run 4/4: weak, 2 rank(s), global batch 256" sweep.txt || fail "no progress line for the last run"
grep -q "eta" sweep.txt || fail "no ETA in the progress lines"
read -r w h _ colours _ < <("$PY" "$ELBO_SRC/tests/e2e/png_info.py" out/scaling.png)
[ "$w $h" = "1200 760" ] && [ "$colours" -gt 5 ] || fail "scaling.png is $w x $h with $colours colours"

"$PY" - out <<'EOF' || fail "the outputs disagree"
import csv, json, math, os, sys
sys.path.insert(0, os.path.join(os.environ["ELBO_SRC"], "launch", "lib"))
import allreduce_model as m
d = sys.argv[1]
rows = list(csv.DictReader(open(f"{d}/scaling.csv")))
rep = json.load(open(f"{d}/scaling.json"))
def close(a, b, rel, what):
    if not math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-9):
        sys.exit(f"{what}: {a} != {b}")
assert sorted((r["mode"], int(r["ranks"])) for r in rows) == [("strong", 1), ("strong", 2), ("weak", 1), ("weak", 2)], rows
# hidden [64, 32], latent 8, 14x14 images: encoder 196-64-32-16, decoder 8-32-64-196
assert rep["parameters"] == (196*64+64) + (64*32+32) + (32*16+16) + (8*32+32) + (32*64+64) + (64*196+196), rep["parameters"]
assert sum(rep["buckets_bytes"]) == 4 * rep["parameters"]
for r in rows:
    mode, ranks = r["mode"], int(r["ranks"])
    batch = int(r["global_batch"])
    assert batch == (128 if mode == "strong" else 128 * ranks), r
    assert int(r["per_rank_batch"]) * ranks == batch
    assert int(r["steps"]) == 30, r
    close(float(r["compute_ms"]) + float(r["comm_ms"]) + float(r["data_ms"]), r["step_ms"], 1e-4, "split sum")
    assert float(r["compute_ms"]) > 0, r
    close(r["samples_per_s"], batch / (float(r["step_ms"]) / 1e3), 1e-4, "samples/s vs step time")
    base = next(b for b in rows if b["mode"] == mode and int(b["ranks"]) == 1)
    close(r["speedup"], float(r["samples_per_s"]) / float(base["samples_per_s"]), 1e-4, "speedup")
    close(r["efficiency"], float(r["speedup"]) / ranks, 1e-4, "efficiency")
    if ranks == 1:
        close(r["speedup"], 1, 1e-9, "speedup of the base")
        assert float(r["comm_ms"]) < 0.05 * float(r["step_ms"]), f"1 rank spends {r['comm_ms']} ms in all-reduce"
        close(r["model_comm_ms"], 0, 1e-9, "model on 1 rank")
    else:
        fit = rep["fit"]
        want = sum(m.ring(ranks, n, fit["alpha_s"], fit["beta_bytes_per_s"]) for n in rep["buckets_bytes"]) * 1e3
        close(r["model_comm_ms"], want, 1e-4, "model all-reduce")
        close(r["model_over_bench"], float(r["model_comm_ms"]) / float(r["bench_comm_ms"]), 1e-4, "model/bench")
        close(r["model_over_train"], float(r["model_comm_ms"]) / float(r["comm_ms"]), 1e-4, "model/train")
    j = next(x for x in rep["rows"] if x["mode"] == mode and x["ranks"] == ranks)
    close(j["step_s"] * 1e3, r["step_ms"], 1e-4, "json vs csv")
assert rep["fit"]["ranks"] == 2 and rep["fit"]["alpha_s"] >= 0 and rep["fit"]["beta_bytes_per_s"] > 0, rep["fit"]
proj = list(csv.DictReader(open(f"{d}/projection.csv")))
assert [int(p["gpus"]) for p in proj] == m.PROJECTED_GPUS
compute = rep["projection"]["compute_s"] * 1e3
close(compute, next(r["compute_ms"] for r in rows if r["mode"] == "weak" and r["ranks"] == "1"), 1e-4, "projection's compute")
for p in proj:
    for a in ("ring", "tree", "hierarchical"):
        close(p[f"{a}_efficiency"], compute / (compute + float(p[f"{a}_comm_ms"])), 1e-4, f"{a} efficiency")
print("outputs consistent")
EOF
grep -q "model (ring, alpha-beta) fitted on 2 ranks" sweep.txt || fail "no model line in the printed report"
grep -q "projection" sweep.txt || fail "no projection table in the printed report"

note "bad arguments"
expect_error() {  # expect_error PATTERN ARGS...
  local pattern=$1
  shift
  set +e
  bash "$SCALING" "$@" >bad.out 2>&1
  local rc=$?
  set -e
  [ $rc != 0 ] && grep -q -- "$pattern" bad.out || { cat bad.out; fail "scaling.sh $*: exit $rc, wanted an error '$pattern'"; }
  echo "ok  $(head -1 bad.out)"
}
expect_error "--config CONFIG is required" --ranks "1 2"
expect_error "nothere.yaml is not a file" --config nothere.yaml
expect_error "--ranks expects a positive integer" --config c.yaml --ranks "1 x"
expect_error "rank count 3 does not divide the global batch 128" --config c.yaml --ranks "1 3" --elbo "$ELBO_BIN"
expect_error "--mode expects strong, weak or both" --config c.yaml --mode fast
expect_error "must be a multiple of --log-every" --config c.yaml --steps 45 --log-every 10
expect_error "unknown argument" --config c.yaml --bogus
bash "$SCALING" --help >help.out || fail "--help: exit $?"
grep -q "^  launch/scaling.sh --config CONFIG" help.out && grep -q "docs/scaling.md" help.out || { cat help.out; fail "--help"; }

note "scaling-plot without a sweep"
set +e
"$ELBO_BIN" scaling-plot empty_dir >plot.out 2>&1; rc=$?
set -e
[ $rc = 1 ] && grep -q "cannot read empty_dir/scaling.csv" plot.out || { cat plot.out; fail "scaling-plot on an empty folder: exit $rc"; }
echo PASS
