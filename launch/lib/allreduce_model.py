"""Alpha-beta model of gradient all-reduce, and the network inputs it projects with.

A message of n bytes costs alpha + n / beta on one link (Hockney's model): alpha is the
start-up latency of one step, beta the bandwidth of the link in one direction. The
algorithms' costs, as NCCL's own tuning model (src/graph/tuning.cc) and Thakur,
Rabenseifner and Gropp, "Optimization of Collective Communication Operations in MPICH",
IJHPCA 19(1), 2005, write them:

  ring (reduce-scatter then all-gather around a ring of p ranks, NCCL's "Ring"):
      T = 2 (p - 1) alpha + 2 (p - 1) / p * n / beta
  double binary tree (NCCL's "Tree", NCCL 2.4 blog: logarithmic latency, each rank sends
  and receives every byte twice, once up the tree and once down):
      T = 2 log2(p) alpha + 2 n / beta
  hierarchical on nodes of g GPUs (reduce-scatter inside the node over NVLink, ring
  all-reduce of each GPU's 1/g share across the p / g nodes over its own NIC, all-gather
  inside the node):
      T = 2 ring_half(g, n, nvlink) + ring(p / g, n / g, net)
      ring_half(g, n, l) = (g - 1) alpha_l + (g - 1) / g * n / beta_l

The CPU reductions of this machine also add (p - 1) / p * n * gamma of arithmetic per rank
(Thakur et al.'s gamma); fitting beta to measured all-reduce times folds it into beta.
Every function takes seconds and bytes, and bytes per second.
"""
import math

# ---- documented inputs for the projection (one direction of one link, per GPU) ----
# Each entry: bandwidth in bytes/s, the latency of one algorithm step in seconds, and
# where the figure comes from. Peak figures: measured bus bandwidths are lower (nccl-tests
# reach roughly 80-90 % of them), so the projected efficiencies are upper bounds.
LINKS = {
    "nvlink4": {
        "beta": 450e9,
        "alpha": 3.4e-6,
        "source": "NVIDIA H100 Tensor Core GPU datasheet (SXM5): NVLink 900 GB/s total, i.e. 450 GB/s "
                  "each way; latency: NCCL src/graph/tuning.cc hwLat[NVLINK][Ring][Simple] = 3.4 us per ring step",
    },
    "ndr400": {
        "beta": 50e9,
        "alpha": 9.6e-6,
        "source": "NVIDIA ConnectX-7 / Quantum-2 NDR InfiniBand: 400 Gb/s per port = 50 GB/s each way, one "
                  "port per GPU (DGX H100: 8 ConnectX-7 for 8 GPUs); latency: NCCL src/graph/tuning.cc "
                  "hwLat[NET][Ring][Simple] = 9.6 us per ring step",
    },
}
GPUS_PER_NODE = 8  # DGX/HGX H100: 8 GPUs on one NVLink switch fabric
PROJECTED_GPUS = [8, 16, 32, 64, 128, 256, 512, 1024]


def ring(p, nbytes, alpha, beta):
    """Ring all-reduce of nbytes over p ranks."""
    if p <= 1:
        return 0.0
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * nbytes / beta


def tree(p, nbytes, alpha, beta):
    """Double binary tree all-reduce of nbytes over p ranks (pipelined: the bandwidth
    term does not grow with depth)."""
    if p <= 1:
        return 0.0
    return 2 * math.log2(p) * alpha + 2 * nbytes / beta


def hierarchical(p, nbytes, intra, inter, per_node=GPUS_PER_NODE):
    """Reduce-scatter inside each node, ring all-reduce of the shares across nodes,
    all-gather inside each node. intra and inter are LINKS entries. p <= per_node: one
    node, a plain ring over the intra-node links."""
    if p <= per_node:
        return ring(p, nbytes, intra["alpha"], intra["beta"])
    if p % per_node:
        raise ValueError(f"{p} GPUs do not fill nodes of {per_node}")
    g, nodes = per_node, p // per_node
    half = (g - 1) * intra["alpha"] + (g - 1) / g * nbytes / intra["beta"]
    return 2 * half + ring(nodes, nbytes / g, inter["alpha"], inter["beta"])


def flat(algorithm, p, nbytes, intra, inter, per_node=GPUS_PER_NODE):
    """NCCL's flat ring or tree over p GPUs on nodes of per_node: inside one node every
    step runs on NVLink; across nodes the bandwidth is the network's (the slowest link of
    the ring or tree), and the latency counts intra- and inter-node steps as NCCL's tuning
    model does (ring: 2 (nodes - 1) network steps of 2 (p - 1); tree: 2 (g - 1) NVLink
    steps and 2 log2(nodes) network steps)."""
    if p <= per_node:
        link = intra
        return (ring if algorithm == "ring" else tree)(p, nbytes, link["alpha"], link["beta"])
    nodes, g = p // per_node, per_node
    if algorithm == "ring":
        net_steps = 2 * (nodes - 1)
        latency = (2 * (p - 1) - net_steps) * intra["alpha"] + net_steps * inter["alpha"]
        return latency + 2 * (p - 1) / p * nbytes / inter["beta"]
    latency = 2 * ((g - 1) * intra["alpha"] + math.log2(nodes) * inter["alpha"])
    return latency + 2 * nbytes / inter["beta"]


def bucket_sizes(parameters, bucket_mb, bytes_per_value=4):
    """The gradient buckets of one step in bytes, as GradReducer cuts them: buckets of
    bucket_mb MiB from the end of the flat buffer, the remainder first."""
    per_bucket = max(1, int(bucket_mb * (1 << 20)) // bytes_per_value)
    sizes, left = [], parameters
    while left > 0:
        take = min(per_bucket, left)
        sizes.append(take * bytes_per_value)
        left -= take
    return sizes


def step_comm(cost, buckets):
    """All-reduce time of one step: every bucket pays its own latency (no overlap)."""
    return sum(cost(b) for b in buckets)


def efficiency(compute_s, comm_s):
    """Share of a step spent computing when the all-reduce is not hidden behind it."""
    return compute_s / (compute_s + comm_s) if compute_s + comm_s > 0 else float("nan")


def fit_alpha_beta(points, p):
    """Least-squares alpha and beta of the ring model from measured all-reduce times
    [(bytes, seconds), ...] at p ranks: T = a alpha + b n / beta is linear in
    (alpha, 1 / beta). Absolute residuals, so the large messages that carry most of a
    step's time weigh most. Returns (alpha, beta); raises ValueError when the points
    cannot determine them (fewer than two sizes, or a non-positive slope). When the best
    line passes under zero (a negative alpha), the fit is the best line through zero:
    alpha 0, and beta from T = b n / beta alone."""
    if p < 2:
        raise ValueError("alpha and beta need an all-reduce between at least 2 ranks")
    if len({n for n, _ in points}) < 2:
        raise ValueError("alpha and beta need all-reduce times at two message sizes at least")
    a, b = 2 * (p - 1), 2 * (p - 1) / p
    xs = [b * n for n, _ in points]
    ys = [t for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    if slope <= 0:
        raise ValueError("all-reduce times do not grow with the message size; no bandwidth to fit")
    intercept = my - slope * mx
    if intercept < 0:
        return 0.0, sum(x * x for x in xs) / sum(x * y for x, y in zip(xs, ys))
    return intercept / a, 1.0 / slope


def sizes_near(points, buckets, factor=2):
    """The measured points within `factor` of some bucket size of the step (all points
    when fewer than two sizes lie there): on a CPU the time per byte changes with the
    message size (this machine's shared-memory all-reduce, measured under load, ran about
    4x slower per byte above 1 MiB), so one straight line over every size describes none
    of them; the fit describes the sizes the step sends."""
    near = [(n, t) for n, t in points if any(b / factor <= n <= b * factor for b in buckets)]
    return near if len({n for n, _ in near}) >= 2 else list(points)


def projection(compute_s, buckets):
    """Projected efficiency at PROJECTED_GPUS for the three algorithms on H100 nodes
    (NVLink 4 inside, one NDR port per GPU across): rows of dicts."""
    nv, ib = LINKS["nvlink4"], LINKS["ndr400"]
    rows = []
    for p in PROJECTED_GPUS:
        row = {"gpus": p, "nodes": max(1, p // GPUS_PER_NODE), "compute_s": compute_s}
        for name, cost in (("ring", lambda n: flat("ring", p, n, nv, ib)),
                           ("tree", lambda n: flat("tree", p, n, nv, ib)),
                           ("hierarchical", lambda n: hierarchical(p, n, nv, ib))):
            t = step_comm(cost, buckets)
            row[f"{name}_comm_s"] = t
            row[f"{name}_efficiency"] = efficiency(compute_s, t)
        rows.append(row)
    return rows
