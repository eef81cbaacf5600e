// All-reduce bandwidth of elbo's gradient communicator, reported like nccl-tests:
//   algbw = bytes / time,  busbw = algbw * 2 (n - 1) / n
// for message sizes from --min-bytes to --max-bytes (doubling), on the data plane the
// trainer would use (--device cpu|cuda, --backend auto|mpi|nccl).
//   mpirun -np 2 build/release/elbo_allreduce_bench [--device cpu] [--backend auto] [--iters 20]
// Compare the CPU shared-memory path with plain MPI by running it with ELBO_SHM_ALLREDUCE=0.
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/dist/communicator.h"
#include "elbo/dist/mpi_context.h"
#include "elbo/error.h"

int main(int argc, char** argv) {
  elbo::MpiContext mpi(&argc, &argv);
  std::string device = "cpu", backend = "auto";
  size_t min_bytes = 1 << 16, max_bytes = 16 << 20;
  int iters = 20, warmup = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--device") device = v;
    else if (k == "--backend") backend = v;
    else if (k == "--min-bytes") min_bytes = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--max-bytes") max_bytes = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--iters") iters = std::atoi(v.c_str());
    else {
      if (mpi.is_root()) std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    elbo::Device dev{device == "cuda" ? elbo::DeviceType::kCUDA : elbo::DeviceType::kCPU,
                     device == "cuda" ? mpi.local_rank() % std::max(1, elbo::cuda_device_count()) : 0};
    auto be = elbo::make_backend(dev);
    elbo::CommBackend kind = backend == "mpi" ? elbo::CommBackend::kMpi
                             : backend == "nccl" ? elbo::CommBackend::kNccl
                                                 : elbo::CommBackend::kAuto;
    auto comm = elbo::make_communicator(kind, mpi, *be);
    const int n = mpi.world();
    if (mpi.is_root())
      std::printf("# elbo all-reduce: %d rank(s), %s, data plane %s\n#%12s %12s %10s %10s %10s\n", n,
                  be->device().str().c_str(), comm->name().c_str(), "size(B)", "count", "time(us)", "algbw(GB/s)",
                  "busbw(GB/s)");
    for (size_t bytes = min_bytes; bytes <= max_bytes; bytes *= 2) {
      const size_t count = bytes / sizeof(float);
      elbo::DeviceBuffer buf(be.get(), count);
      be->fill(buf.data(), count, 1.0f);
      for (int i = 0; i < warmup; ++i) comm->allreduce_sum(buf.data(), count);
      be->synchronize();
      mpi.barrier();
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < iters; ++i) comm->allreduce_sum(buf.data(), count);
      be->synchronize();
      double local = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
      double slowest = 0;
      MPI_Allreduce(&local, &slowest, 1, MPI_DOUBLE, MPI_MAX, mpi.comm());
      const double algbw = double(bytes) / slowest / 1e9;
      const double busbw = algbw * 2.0 * (n - 1) / n;
      if (mpi.is_root())
        std::printf(" %12zu %12zu %10.1f %10.2f %10.2f\n", bytes, count, slowest * 1e6, algbw, busbw);
    }
  } catch (const elbo::Error& e) {
    std::fprintf(stderr, "elbo_allreduce_bench: rank %d: %s\n", mpi.rank(), e.what());
    return 1;
  }
  return 0;
}
