#!/usr/bin/python3
"""Helpers of launch/bench_cpu.sh: read one elbo run's rate, describe the machine, and
turn the raw per-run records into the summary table and build/bench-results/cpu.json.

  bench_report.py elbo-rate RUN_DIR --warmup W --batch B   one JSON line: elbo's samples/s
  bench_report.py machine                                   one JSON line: cores, CPU, versions
  bench_report.py summarize RUNS.jsonl MACHINE.json OUT.json [QUALITY.jsonl]
"""
import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys


def fail(msg):
    sys.exit(f"bench_report: {msg}")


def elbo_rate(run_dir, warmup, batch):
    """samples/s over the steps after `warmup`, from metrics.jsonl. Each record's
    samples_per_s covers the interval since the previous record, so the records with
    step > warmup together cover steps warmup+1..last exactly (warmup must be a
    multiple of train.log_every)."""
    path = os.path.join(run_dir, "metrics.jsonl")
    try:
        with open(path) as f:
            records = [json.loads(line) for line in f if line.strip()]
    except OSError as e:
        fail(f"cannot read {path}: {e}")
    steps = [r["step"] for r in records]
    if warmup not in steps and warmup != 0:
        fail(f"{path}: no record at the warm-up step {warmup} (records at {steps}); "
             "the warm-up must be a multiple of train.log_every")
    prev, samples, seconds = warmup, 0, 0.0
    for r in records:
        if r["step"] <= warmup:
            continue
        samples += (r["step"] - prev) * batch
        seconds += r["elapsed_s"]
        prev = r["step"]
    if seconds <= 0:
        fail(f"{path}: no records after the warm-up step {warmup}")
    measured = [r for r in records if r["step"] > warmup]
    return {
        "measured_steps": prev - warmup,
        "measured_s": seconds,
        "samples_per_s": samples / seconds,
        "data_wait_s": sum(r.get("data_wait_s", 0.0) for r in measured),
        "comm_wait_s": sum(r.get("comm_wait_s", 0.0) for r in measured),
        "final_loss": records[-1]["loss"],
    }


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def command_output(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine():
    openblas = "unknown"
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_config.restype = ctypes.c_char_p
        openblas = lib.openblas_get_config().decode()
    except (OSError, AttributeError):
        pass
    try:
        import torch  # noqa: PLC0415 (only this subcommand needs it)
        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    mpi = command_output(["mpirun", "--version"]).splitlines()
    gxx = command_output(["g++", "--version"]).splitlines()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "openblas": openblas,
        "torch": torch_version,
        "mpi": mpi[0] if mpi else "unknown",
        "compiler": gxx[0] if gxx else "unknown",
        "loadavg_at_start": os.getloadavg()[0],
    }


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarize(runs_path, machine_path, out_path, quality_path):
    runs = read_jsonl(runs_path)
    with open(machine_path) as f:
        info = json.load(f)
    rows = []
    for ranks, threads in sorted({(r["ranks"], r.get("threads", 0)) for r in runs}):
        row = {"ranks": ranks, "threads_per_rank": threads}
        for fw in ("elbo", "torch"):
            rates = [r["samples_per_s"] for r in runs
                     if r["ranks"] == ranks and r.get("threads", 0) == threads and r["framework"] == fw]
            row[fw] = {"runs": rates, "median": statistics.median(rates) if rates else None,
                       "min": min(rates, default=None), "max": max(rates, default=None)}
        e, t = row["elbo"]["median"], row["torch"]["median"]
        row["ratio"] = e / t if e and t else None
        rows.append(row)

    print(f"\n{'ranks':>5}  {'threads':>7}  {'elbo samples/s':>22}  {'torch samples/s':>22}  {'elbo/torch':>10}")
    for row in rows:
        cells = []
        for fw in ("elbo", "torch"):
            s = row[fw]
            cells.append(f"{s['median']:8.0f} [{s['min']:.0f}-{s['max']:.0f}]" if s["median"] else "-")
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] else "-"
        print(f"{row['ranks']:>5}  {row['threads_per_rank']:>7}  {cells[0]:>22}  {cells[1]:>22}  {ratio:>10}")
    print("(median of the alternated runs [min-max]; warm-up steps excluded)")

    result = {"machine": info, "throughput": rows, "runs": runs}
    if quality_path and os.path.exists(quality_path):
        quality = read_jsonl(quality_path)
        result["quality"] = quality
        by_fw = {q["framework"]: q for q in quality}
        print()
        for q in quality:
            print(f"{q['framework']:>5}: {q['epochs']} epochs on {q['ranks']} rank(s) in {q['train_wall_s']:.0f} s, "
                  f"test negative ELBO {q['test_nelbo']:.3f} nats (recon {q['test_recon']:.3f}, kl {q['test_kl']:.3f})")
        if "elbo" in by_fw and "torch" in by_fw:
            diff = by_fw["elbo"]["test_nelbo"] - by_fw["torch"]["test_nelbo"]
            result["quality_nelbo_difference"] = diff
            print(f"elbo - torch: {diff:+.3f} nats")
    with open(out_path + ".tmp", "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    os.replace(out_path + ".tmp", out_path)
    print(f"\nraw results: {out_path}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("elbo-rate")
    r.add_argument("run_dir")
    r.add_argument("--warmup", type=int, required=True)
    r.add_argument("--batch", type=int, required=True)
    sub.add_parser("machine")
    s = sub.add_parser("summarize")
    s.add_argument("runs")
    s.add_argument("machine")
    s.add_argument("out")
    s.add_argument("quality", nargs="?")
    args = p.parse_args()
    if args.cmd == "elbo-rate":
        print(json.dumps(elbo_rate(args.run_dir, args.warmup, args.batch)))
    elif args.cmd == "machine":
        print(json.dumps(machine()))
    else:
        summarize(args.runs, args.machine, args.out, args.quality)


if __name__ == "__main__":
    main()
