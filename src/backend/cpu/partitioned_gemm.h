// Row-major SGEMMs spread over the CPU backend's own worker pool: each GEMM's C is cut
// into column (or row) blocks, one block per thread, and each thread calls a
// single-threaded OpenBLAS SGEMM on its block. Several independent GEMMs can share one
// pass over the pool, each taking a share of the threads.
//
// Why not OpenBLAS's threads: its pool and the backend's worker pool would share the
// rank's cores, and OpenBLAS's idle threads spin in sched_yield between calls
// (a fifth of a 1-rank step's CPU time on 2 cores), stealing the core from the
// element-wise loops that run between GEMMs. With one pool, every core either works
// or waits for the next loop. Each element of C is still one K-reduction by one
// thread, so results are bitwise the same for a given thread count.
#pragma once

#include "elbo/backend.h"
#include "worker_pool.h"

namespace elbo {

// Runs the independent GEMMs gemms[0..count) (none reads what another writes).
// OpenBLAS must be set to one thread (openblas_set_num_threads(1)) for the blocks to run
// side by side.
void partitioned_sgemm(WorkerPool& pool, const GemmArgs* gemms, int count);

}  // namespace elbo
