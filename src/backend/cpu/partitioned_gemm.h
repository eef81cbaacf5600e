// Row-major SGEMMs spread over the CPU backend's own worker pool: each GEMM's C is cut
// into column (or row) blocks whose edges depend on the GEMM's shape alone, each block
// is one single-threaded oneDNN SGEMM, and the pool's threads take blocks from a
// shared queue. Several independent GEMMs (a layer's weight and input gradients) share
// one queue.
//
// Why fixed blocks: oneDNN's SGEMM sums an element's products in an order that depends
// on the size of the matrix it is given (a column block of 16, 48 or 64 changes up to a
// third of C's bits against one call for the whole C). Blocks cut per thread count
// would make results depend on the thread count; blocks fixed by the shape give every
// element the same call whichever thread, and however many, compute it.
//
// Why not oneDNN's (or a BLAS's) own threads: a second pool on the rank's cores, whose
// idle threads spin between calls (OpenBLAS's sched_yield took a fifth of a 1-rank
// step's CPU time on 2 cores), stealing the core from the element-wise loops between
// GEMMs. With one pool, every core either works or waits for the next loop.
#pragma once

#include "elbo/backend.h"
#include "worker_pool.h"

namespace elbo {

// Runs the independent GEMMs gemms[0..count) (none reads what another writes).
void partitioned_sgemm(WorkerPool& pool, const GemmArgs* gemms, int count);

}  // namespace elbo
