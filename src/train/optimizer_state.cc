#include "elbo/train/optimizer_state.h"

#include <mpi.h>

#include <cstdio>
#include <string>
#include <utility>

#include "elbo/error.h"

namespace elbo {
namespace {

void check_mpi(int rc, const char* what, int rank) {
  ELBO_CHECK(rc == MPI_SUCCESS, "rank " << rank << ": MPI " << what << " of the optimizer moments failed");
}

}  // namespace

HostMoments gather_moments(const MpiContext& mpi, Backend& be, Adam& adam) {
  const size_t n = adam.size();
  HostMoments out;
  if (!adam.sharded()) {
    if (!mpi.is_root()) return out;
    out.m.resize(n);
    out.v.resize(n);
    be.copy_to_host(out.m.data(), adam.m(), n);
    be.copy_to_host(out.v.data(), adam.v(), n);
    return out;
  }
  const size_t mine = adam.state_size();
  std::vector<float> m(mine), v(mine);
  be.copy_to_host(m.data(), adam.m(), mine);
  be.copy_to_host(v.data(), adam.v(), mine);
  const ShardCounts sc = shard_counts(n, mpi.world());
  if (mpi.is_root()) {
    out.m.resize(n);
    out.v.resize(n);
  }
  for (auto [part, whole] : {std::pair{&m, &out.m}, std::pair{&v, &out.v}})
    check_mpi(MPI_Gatherv(part->data(), int(mine), MPI_FLOAT, whole->data(), sc.counts.data(), sc.displs.data(),
                          MPI_FLOAT, 0, mpi.comm()),
              "gather", mpi.rank());
  return out;
}

void scatter_moments(const MpiContext& mpi, Backend& be, Adam& adam, const HostMoments& root_moments) {
  int present = mpi.is_root() && !root_moments.empty() ? 1 : 0;
  mpi.broadcast(&present, sizeof present);
  if (!present) return;
  const size_t n = adam.size(), mine = adam.state_size();
  if (mpi.is_root())
    ELBO_CHECK(root_moments.m.size() == n && root_moments.v.size() == n,
               "optimizer moments of " << root_moments.m.size() << " floats for " << n << " parameters");
  std::vector<float> m(mine), v(mine);
  if (!adam.sharded()) {
    if (mpi.is_root()) {
      m = root_moments.m;
      v = root_moments.v;
    }
    mpi.broadcast(m.data(), n * sizeof(float));
    mpi.broadcast(v.data(), n * sizeof(float));
  } else {
    const ShardCounts sc = shard_counts(n, mpi.world());
    for (auto [whole, part] : {std::pair{&root_moments.m, &m}, std::pair{&root_moments.v, &v}})
      check_mpi(MPI_Scatterv(whole->data(), sc.counts.data(), sc.displs.data(), MPI_FLOAT, part->data(), int(mine),
                             MPI_FLOAT, 0, mpi.comm()),
                "scatter", mpi.rank());
  }
  be.copy_to_device(adam.m(), m.data(), mine);
  be.copy_to_device(adam.v(), v.data(), mine);
  be.synchronize();
}

std::string describe_optimizer_memory(const Adam& adam, int world) {
  auto mb = [](size_t floats) { return double(2 * floats * sizeof(float)) / 1e6; };  // m and v
  char buf[160];
  if (adam.sharded())
    std::snprintf(buf, sizeof buf, "optimizer state %.2f MB per rank (ZeRO-1: rank 0's shard, 1/%d of %.2f MB)",
                  mb(adam.state_size()), world, mb(adam.size()));
  else
    std::snprintf(buf, sizeof buf, "optimizer state %.2f MB per rank", mb(adam.state_size()));
  return buf;
}

}  // namespace elbo
