// oneDNN as the CPU backend uses it: one thread per call, the backend's worker pool
// doing the threading (see partitioned_gemm.h for why a second pool on the same cores
// costs time).
#pragma once

namespace elbo {

// Makes oneDNN calls from the calling thread run on that thread alone. Debian's
// libdnnl is built with the OpenMP runtime, whose thread count is a per-thread
// setting (each std::thread starts from the process default, all cores): every thread
// that calls oneDNN, the pool's workers and the caller, calls this before its first
// oneDNN call, including before creating a primitive (oneDNN fixes a primitive's
// work split when it is created). Cheap after the first call on a thread. Throws
// (on the first call only) if the OpenMP runtime cannot be found.
void onednn_use_one_thread();

}  // namespace elbo
