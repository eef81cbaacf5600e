#!/usr/bin/python3
"""Report of a launch/scaling.sh sweep: reads DIR/runs/<mode>-r<N>/ (metrics.jsonl,
config.yaml), DIR/logs/<mode>-r<N>.log (the start line: data plane, parameter count) and
DIR/allreduce-r<N>.txt (elbo_allreduce_bench), and writes DIR/scaling.csv, scaling.json and
projection.csv; prints the measured table with the alpha-beta model beside it, and the
projection to 8..1024 GPUs.

  scaling_report.py DIR --warmup W [--label TEXT] [--compute-ms MS]

--compute-ms: project with this compute time per step instead of the measured one (the
compute of the same model and per-GPU batch measured on a GPU, for instance).
"""
import argparse
import csv
import glob
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allreduce_model as model  # noqa: E402

TOLERANCE = 0.25  # the model must predict the measured all-reduce within this share


def fail(msg):
    sys.exit(f"scaling_report: {msg}")


def read_records(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        fail(f"cannot read {path}: {e}")


def config_value(run_dir, section, key):
    """One scalar of the run's effective config (run.dir/config.yaml, written by elbo)."""
    path = os.path.join(run_dir, "config.yaml")
    current = None
    with open(path) as f:
        for line in f:
            if re.match(r"^[a-z_]+:", line):
                current = line.split(":")[0]
            m = re.match(rf"^\s+{key}:\s*([^#\s]+)", line)
            if current == section and m:
                return float(m.group(1))
    fail(f"{path} has no {section}.{key}")


def start_line(log):
    """Data plane and parameter count from elbo train's first line."""
    with open(log) as f:
        for line in f:
            m = re.search(r"data plane (.+?), (\d+) parameters", line)
            if m:
                return m.group(1), int(m.group(2))
    fail(f"{log} has no start line ('data plane ..., N parameters'); did elbo train start?")


def split(records, warmup):
    """Per-step seconds over the records after the warm-up: each record covers the steps
    since the previous one, its elapsed_s their wall time, comm_wait_s rank 0's host time
    in gradient all-reduce calls, data_wait_s the ranks' mean wait for the loader."""
    prev, steps, wall, comm, data = warmup, 0, 0.0, 0.0, 0.0
    if warmup and warmup not in [r["step"] for r in records]:
        fail(f"no record at the warm-up step {warmup}")
    for r in records:
        if r["step"] <= warmup:
            continue
        steps += r["step"] - prev
        prev = r["step"]
        wall += r["elapsed_s"]
        comm += r["comm_wait_s"]
        data += r["data_wait_s"]
    if steps == 0 or wall <= 0:
        fail(f"no records after the warm-up step {warmup}")
    return steps, wall, comm / steps, data / steps


def read_bench(path):
    """[(bytes, seconds)] and the data plane of an elbo_allreduce_bench output."""
    points, plane = [], ""
    with open(path) as f:
        for line in f:
            m = re.search(r"data plane (.+)$", line)
            if m:
                plane = m.group(1).strip()
            fields = line.split()
            if len(fields) == 5 and not line.startswith("#"):
                points.append((int(fields[0]), float(fields[2]) * 1e-6))
    if len(points) < 2:
        fail(f"{path} holds fewer than two all-reduce timings")
    return points, plane


def interpolate(points, nbytes):
    """Measured all-reduce time at nbytes: straight lines between the measured sizes,
    extended from the nearest two at either end."""
    pts = sorted(points)
    lo, hi = pts[0], pts[1]
    for a, b in zip(pts, pts[1:]):
        lo, hi = a, b
        if nbytes <= b[0]:
            break
    t = lo[1] + (hi[1] - lo[1]) * (nbytes - lo[0]) / (hi[0] - lo[0])
    return max(t, 0.0)


def ms(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x * 1e3, 6)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir")
    p.add_argument("--warmup", type=int, required=True)
    p.add_argument("--label", default="")
    p.add_argument("--compute-ms", type=float, default=None)
    a = p.parse_args()

    runs = {}
    for run_dir in sorted(glob.glob(os.path.join(a.dir, "runs", "*-r*"))):
        m = re.match(r"(strong|weak)-r(\d+)$", os.path.basename(run_dir))
        if m:
            runs[(m.group(1), int(m.group(2)))] = run_dir
    if not runs:
        fail(f"{a.dir}/runs holds no strong-rN or weak-rN run")

    rows, planes, parameters, bucket_mb = [], {}, 0, 0.0
    for (mode, ranks), run_dir in sorted(runs.items()):
        name = os.path.basename(run_dir)
        plane_r, params = start_line(os.path.join(a.dir, "logs", name + ".log"))
        parameters, bucket_mb = params, config_value(run_dir, "dist", "bucket_mb")
        if ranks > 1:
            planes[ranks] = plane_r
        batch = int(config_value(run_dir, "train", "global_batch"))
        steps, wall, comm, data = split(read_records(run_dir), a.warmup)
        step = wall / steps
        rows.append({"mode": mode, "ranks": ranks, "global_batch": batch, "per_rank_batch": batch // ranks,
                     "steps": steps, "samples_per_s": steps * batch / wall, "step_s": step,
                     "compute_s": step - comm - data, "comm_s": comm, "data_s": data, "data_plane": plane_r})

    for mode in ("strong", "weak"):
        mine = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["ranks"])
        for r in mine:
            base = mine[0]
            r["speedup"] = r["samples_per_s"] / base["samples_per_s"]
            r["efficiency"] = r["speedup"] / (r["ranks"] / base["ranks"])

    # ---- the MPI instance of the model: alpha, beta from the all-reduce benchmark at the
    # smallest multi-rank count, predicting every rank count's step all-reduce ----
    buckets = model.bucket_sizes(parameters, bucket_mb)
    bench = {}
    for path in glob.glob(os.path.join(a.dir, "allreduce-r*.txt")):
        bench[int(re.search(r"-r(\d+)\.txt$", path).group(1))] = read_bench(path)
    fit = None
    if bench:
        p_fit = min(bench)
        used = model.sizes_near(bench[p_fit][0], buckets)
        try:
            alpha, beta = model.fit_alpha_beta(used, p_fit)
        except ValueError as e:
            # Small buckets on a busy machine: their times are noise. All the sizes the
            # benchmark timed (4 KiB .. 16 MiB) still show the bandwidth.
            print(f"scaling: warning: {e} near the gradient buckets' sizes (a busy machine?); "
                  "fitting every size the benchmark timed", file=sys.stderr)
            used = bench[p_fit][0]
            alpha, beta = model.fit_alpha_beta(used, p_fit)
        fit = {"ranks": p_fit, "alpha_s": alpha, "beta_bytes_per_s": beta, "data_plane": bench[p_fit][1],
               "sizes_bytes": [n for n, _ in used]}
    for r in rows:
        r["model_comm_s"] = r["bench_comm_s"] = r["model_over_bench"] = r["model_over_train"] = None
        if fit and r["ranks"] == 1:
            r["model_comm_s"] = 0.0  # one rank reduces nothing
        if fit and r["ranks"] > 1:
            r["model_comm_s"] = model.step_comm(lambda n: model.ring(r["ranks"], n, fit["alpha_s"], fit["beta_bytes_per_s"]), buckets)
            if r["ranks"] in bench:
                r["bench_comm_s"] = model.step_comm(lambda n: interpolate(bench[r["ranks"]][0], n), buckets)
                r["model_over_bench"] = r["model_comm_s"] / r["bench_comm_s"]
            if r["comm_s"] > 0:
                r["model_over_train"] = r["model_comm_s"] / r["comm_s"]

    # ---- projection: the compute of a step at the smallest rank count (weak runs when
    # there are any: their per-rank batch is the one a larger machine would keep) ----
    base = sorted(rows, key=lambda r: (r["mode"] != "weak", r["ranks"]))[0]
    compute_s, compute_from = base["compute_s"], f"{base['mode']}-r{base['ranks']}"
    if a.compute_ms is not None:
        if a.compute_ms <= 0:
            fail(f"--compute-ms must be positive, got {a.compute_ms}")
        compute_s, compute_from = a.compute_ms / 1e3, "--compute-ms"
    proj = model.projection(compute_s, buckets)

    plane = "; ".join(f"{n} ranks: {planes[n]}" for n in sorted(planes))

    # ---- outputs ----
    cols = ["mode", "ranks", "global_batch", "per_rank_batch", "steps", "samples_per_s", "speedup", "efficiency",
            "step_ms", "compute_ms", "comm_ms", "data_ms", "model_comm_ms", "bench_comm_ms", "model_over_bench",
            "model_over_train"]
    with open(os.path.join(a.dir, "scaling.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([r["mode"], r["ranks"], r["global_batch"], r["per_rank_batch"], r["steps"],
                        f"{r['samples_per_s']:.6g}", f"{r['speedup']:.6g}", f"{r['efficiency']:.6g}"] +
                       ["" if ms(r[k]) is None else f"{ms(r[k]):.6g}"
                        for k in ("step_s", "compute_s", "comm_s", "data_s", "model_comm_s", "bench_comm_s")] +
                       ["" if r[k] is None else f"{r[k]:.6g}" for k in ("model_over_bench", "model_over_train")])
    pcols = ["gpus", "nodes", "compute_ms"] + [f"{a_}_{k}" for a_ in ("ring", "tree", "hierarchical")
                                               for k in ("comm_ms", "efficiency")]
    with open(os.path.join(a.dir, "projection.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(pcols)
        for r in proj:
            w.writerow([r["gpus"], r["nodes"], f"{r['compute_s'] * 1e3:.6g}"] +
                       [f"{r[f'{a_}_comm_s'] * 1e3:.6g}" if k == "comm_ms" else f"{r[f'{a_}_efficiency']:.6g}"
                        for a_ in ("ring", "tree", "hierarchical") for k in ("comm_ms", "efficiency")])
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    report = {"label": a.label, "cores": os.cpu_count(), "loadavg_at_report": load, "warmup_steps": a.warmup,
              "parameters": parameters, "gradient_bytes": 4 * parameters, "bucket_mb": bucket_mb,
              "buckets_bytes": buckets, "data_plane": plane, "fit": fit, "tolerance": TOLERANCE, "rows": rows,
              "projection": {"compute_s": compute_s, "compute_from": compute_from,
                             "links": model.LINKS, "gpus_per_node": model.GPUS_PER_NODE, "rows": proj}}
    with open(os.path.join(a.dir, "scaling.json"), "w") as f:
        json.dump(report, f, indent=1)

    # ---- the tables ----
    print(f"\n{a.label + ': ' if a.label else ''}{parameters} parameters, {4 * parameters / 1e6:.2f} MB of gradients "
          f"in {len(buckets)} bucket(s); data plane: {plane or 'none (1 rank)'}; load average {' '.join(load)}")
    if fit:
        print(f"model (ring, alpha-beta) fitted on {fit['ranks']} ranks: alpha {fit['alpha_s'] * 1e6:.2f} us, "
              f"beta {fit['beta_bytes_per_s'] / 1e9:.3f} GB/s (all-reduce benchmark, {len(fit['sizes_bytes'])} sizes "
              f"from {min(fit['sizes_bytes'])} to {max(fit['sizes_bytes'])} B, {fit['data_plane']})")
    print(f"{'mode':>6} {'ranks':>5} {'batch':>6} {'samples/s':>10} {'speedup':>7} {'eff':>5} {'step ms':>8} "
          f"{'compute':>8} {'comm':>8} {'data':>7} | {'model':>8} {'bench':>8} {'mod/bch':>7} {'mod/trn':>7}")
    fmt = lambda v, w, d: f"{v:>{w}.{d}f}" if v is not None else f"{'-':>{w}}"  # noqa: E731
    for r in rows:
        print(f"{r['mode']:>6} {r['ranks']:>5} {r['global_batch']:>6} {r['samples_per_s']:>10.0f} {r['speedup']:>7.2f} "
              f"{r['efficiency']:>5.2f} {r['step_s'] * 1e3:>8.3f} {r['compute_s'] * 1e3:>8.3f} {r['comm_s'] * 1e3:>8.3f} "
              f"{r['data_s'] * 1e3:>7.3f} | {fmt(ms(r['model_comm_s']), 8, 3)} {fmt(ms(r['bench_comm_s']), 8, 3)} "
              f"{fmt(r['model_over_bench'], 7, 2)} {fmt(r['model_over_train'], 7, 2)}")
    print(f"\nprojection (no overlap of compute and all-reduce; compute {compute_s * 1e3:.3f} ms per step from "
          f"{compute_from}; H100 nodes of {model.GPUS_PER_NODE}, NVLink 4 and one NDR port per GPU):")
    print(f"{'gpus':>5} {'ring ms':>8} {'eff':>5} {'tree ms':>8} {'eff':>5} {'hier ms':>8} {'eff':>5}")
    for r in proj:
        print(f"{r['gpus']:>5} " + " ".join(f"{r[f'{x}_comm_s'] * 1e3:>8.3f} {r[f'{x}_efficiency']:>5.2f}"
                                           for x in ("ring", "tree", "hierarchical")))
    print(f"wrote {a.dir}/scaling.csv, scaling.json, projection.csv")


if __name__ == "__main__":
    main()
