// NcclCommunicator under mpirun (here rather than in tests/cuda because NCCL's
// unique id travels over MPI, and this folder's main initialises MPI once for the
// whole binary). Needs one GPU per rank on each node: otherwise every rank skips,
// decided together so that no rank waits in a collective that another skipped.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/dist/communicator.h"
#include "elbo/dist/gpu_sharing.h"
#include "elbo/dist/grad_reducer.h"
#include "elbo/dist/mpi_context.h"
#include "elbo/dist/nccl_communicator.h"
#include "elbo/dist/shard.h"
#include "elbo/error.h"
#include "elbo/io/crc32.h"
#include "elbo/models/vae_model.h"
#include "elbo/optim/adam.h"
#include "elbo/train/step_program.h"

namespace elbo {
namespace {

#if defined(ELBO_WITH_CUDA)

// Ranks on a node with fewer GPUs than ranks share them (local rank % GPUs), which
// NCCL accepts from 2.30 with NCCL_MULTI_RANK_GPU_ENABLE=1 (ctest sets it).
std::string skip_reason(MpiContext& mpi) {
  const int gpus = cuda_device_count();
  const bool can_share = nccl_accepts_shared_gpus(nccl_runtime_version(), std::getenv("NCCL_MULTI_RANK_GPU_ENABLE"));
  const int lacking = mpi.allreduce_max(gpus == 0 || (gpus < mpi.local_world() && !can_share) ? 1 : 0);
  if (!lacking) return "";
  if (gpus == 0) return "no CUDA device visible";
  return "needs one GPU per rank: " + std::to_string(mpi.local_world()) + " ranks on this node, " +
         std::to_string(gpus) + " GPU(s) visible, and this NCCL does not accept ranks sharing a GPU (2.30+ with "
         "NCCL_MULTI_RANK_GPU_ENABLE=1 does)";
}

int device_of(const MpiContext& mpi) { return mpi.local_rank() % std::max(1, cuda_device_count()); }

class Nccl : public ::testing::Test {
 protected:
  void SetUp() override {
    mpi_ = std::make_unique<MpiContext>(nullptr, nullptr);  // MPI is already initialised by the test main
    const std::string why = skip_reason(*mpi_);
    if (!why.empty()) GTEST_SKIP() << why;
    backend_ = make_cuda_backend(device_of(*mpi_), GemmPrecision::kFP32);
    comm_ = make_nccl_communicator(*mpi_, *backend_, 60.0);
  }
  void TearDown() override {
    comm_.reset();
    backend_.reset();
  }

  DeviceBuffer upload(const std::vector<float>& h) {
    DeviceBuffer d(backend_.get(), h.size());
    backend_->copy_to_device(d.data(), h.data(), h.size());
    return d;
  }
  std::vector<float> download(const DeviceBuffer& d) {
    std::vector<float> h(d.size());
    backend_->copy_to_host(h.data(), d.data(), d.size());
    return h;
  }

  std::unique_ptr<MpiContext> mpi_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Communicator> comm_;
};

TEST_F(Nccl, ReportsVersionRankAndWorld) {
  EXPECT_EQ(comm_->name().rfind("nccl 2.", 0), 0u) << comm_->name();
  EXPECT_EQ(comm_->rank(), mpi_->rank());
  EXPECT_EQ(comm_->world(), mpi_->world());
}

// Small integers times rank weights: every partial sum is exact in float.
TEST_F(Nccl, AllReduceSumsOverRanks) {
  const size_t n = (size_t(1) << 20) + 3;
  const int w = mpi_->world(), r = mpi_->rank();
  std::vector<float> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = float((r + 1) * int(i % 97));
  DeviceBuffer d = upload(h);
  comm_->allreduce_sum(d.data(), n);
  const std::vector<float> got = download(d);
  const float weight = float(w * (w + 1) / 2);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], weight * float(i % 97)) << "element " << i;
}

// ZeRO-1's collectives: shards of unequal length (n not divisible by the world), a grouped
// reduce per shard, and a grouped broadcast per shard that the compute stream (not the
// host) waits for, so the scale after it sees every shard.
TEST_F(Nccl, ReduceScatterAndAllGatherOfShards) {
  const int w = mpi_->world(), r = mpi_->rank();
  for (size_t n : {size_t(1), size_t(17), size_t(300001)}) {
    std::vector<float> h(n);
    for (size_t i = 0; i < n; ++i) h[i] = float((r + 1) * int(i % 97));
    DeviceBuffer d = upload(h);
    comm_->reduce_scatter_sum(d.data(), n);
    std::vector<float> got = download(d);
    const Shard mine = shard_of(n, w, r);
    for (size_t i = mine.begin; i < mine.end; ++i)
      ASSERT_EQ(got[i], float(w * (w + 1) / 2) * float(i % 97)) << "n " << n << " element " << i;

    backend_->fill(d.data(), n, -1.0f);
    if (mine.size() > 0) backend_->fill(d.data() + mine.begin, mine.size(), float(r + 1));
    comm_->allgather_shards(d.data(), n);
    backend_->scale(d.data(), n, 2.0f);
    got = download(d);
    for (int q = 0; q < w; ++q) {
      const Shard s = shard_of(n, w, q);
      for (size_t i = s.begin; i < s.end; ++i) ASSERT_EQ(got[i], 2.0f * float(q + 1)) << "n " << n << " element " << i;
    }
  }
}

// ZeRO-1's step on NCCL: the trainer reduce-scatters only where that keeps the all-reduce's
// bits (one rank) and does it inside the captured step, so a communicator of one must
// neither wait on the host nor do anything (it once host-waited for an event of the
// stream being captured: cudaErrorCapturedEvent, and the communicator aborted at step 2).
TEST_F(Nccl, OneRanksShardedStepCollectivesCanBeCaptured) {
  EXPECT_EQ(comm_->reduce_scatter_matches_allreduce(), mpi_->world() == 1);
  if (mpi_->world() != 1) GTEST_SKIP() << "the trainer reduce-scatters on NCCL with one rank only";
  const size_t n = 1001;
  std::vector<float> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = float(i % 13);
  DeviceBuffer d = upload(h);
  ASSERT_TRUE(backend_->capture_begin());
  comm_->reduce_scatter_sum(d.data(), n);
  comm_->allgather_shards(d.data(), n);
  backend_->scale(d.data(), n, 2.0f);
  backend_->capture_end();
  EXPECT_EQ(download(d), h) << "capturing must not run the work";
  for (int i = 0; i < 2; ++i) backend_->replay();
  std::vector<float> want(n);
  for (size_t i = 0; i < n; ++i) want[i] = 4.0f * h[i];
  EXPECT_EQ(download(d), want);
  backend_->release_graph();
}

// The async path never waits on the host: the reductions must start after the
// compute stream's fill and the compute stream's scale must run after wait_all().
TEST_F(Nccl, AsyncAllReducesAreOrderedWithTheComputeStream) {
  const size_t n = 300000, half = n / 2;
  const int w = mpi_->world();
  DeviceBuffer d(backend_.get(), n);
  for (int step = 0; step < 3; ++step) {
    backend_->fill(d.data(), n, float(mpi_->rank() + 1 + step));
    comm_->allreduce_sum_async(d.data() + half, n - half);  // buckets from the end, like the reducer
    comm_->allreduce_sum_async(d.data(), half);
    comm_->wait_all();
    backend_->scale(d.data(), n, 0.5f);
    const std::vector<float> got = download(d);
    const float want = 0.5f * float(w * (w + 1) / 2 + w * step);
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], want) << "step " << step << " element " << i;
  }
}

// The trainer's graph path: all-reduces started on the collective stream and joined back
// by wait_all() are recorded into a CUDA graph of the compute stream; every replay reduces
// again; releasing the graph lets the communicator tear down at once (a graph holding NCCL
// work keeps a reference that the communicator's teardown waits for).
TEST_F(Nccl, CapturedAllReducesReplayAndTearDownPromptly) {
  const size_t n = 300000, half = n / 2;
  const int w = mpi_->world();
  DeviceBuffer d(backend_.get(), n), acc(backend_.get(), n);
  ASSERT_TRUE(backend_->capture_begin());
  backend_->fill(d.data(), n, float(mpi_->rank() + 1));
  comm_->allreduce_sum_async(d.data() + half, n - half);
  comm_->allreduce_sum_async(d.data(), half);
  comm_->wait_all();
  backend_->scale(d.data(), n, 0.5f);
  backend_->axpy(acc.data(), d.data(), n, 1.0f);
  backend_->capture_end();
  EXPECT_EQ(download(acc), std::vector<float>(n, 0.0f)) << "capturing must not run the work";
  for (int i = 0; i < 3; ++i) backend_->replay();
  const std::vector<float> got = download(acc);
  const float want = 3.0f * 0.5f * float(w * (w + 1) / 2);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], want) << "element " << i;
  backend_->release_graph();
  const auto start = std::chrono::steady_clock::now();
  comm_.reset();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 20.0) << "communicator teardown waited (timeout 60 s)";
}

TEST_F(Nccl, BroadcastFromTheLastRank) {
  const int root = mpi_->world() - 1;
  std::vector<float> h(1000);
  for (size_t i = 0; i < h.size(); ++i) h[i] = float(mpi_->rank() * 1000 + int(i));
  DeviceBuffer d = upload(h);
  comm_->broadcast(d.data(), h.size(), root);
  const std::vector<float> got = download(d);
  for (size_t i = 0; i < h.size(); ++i) ASSERT_EQ(got[i], float(root * 1000 + int(i))) << i;
}

TEST_F(Nccl, AllGatherPlacesRankBlocksInOrder) {
  const size_t n = 5;
  const int w = mpi_->world();
  std::vector<float> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = float(mpi_->rank() * 10 + int(i));
  DeviceBuffer send = upload(h), recv(backend_.get(), n * size_t(w));
  comm_->allgather(send.data(), recv.data(), n);
  const std::vector<float> got = download(recv);
  for (int r = 0; r < w; ++r)
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(got[size_t(r) * n + i], float(r * 10 + int(i)));
}

TEST_F(Nccl, BarrierCompletesAndBadRootIsAnError) {
  for (int i = 0; i < 3; ++i) comm_->barrier();
  DeviceBuffer d(backend_.get(), 4);
  try {
    comm_->broadcast(d.data(), 4, mpi_->world());
    FAIL() << "broadcast from a rank outside the world was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("broadcast root"), std::string::npos) << e.what();
  }
}

// Rank 0 all-reduces alone: it must give up after the timeout with a message
// that names the rank and the operation, not hang.
TEST(NcclTimeout, ACollectiveAPeerNeverJoinsTimesOut) {
  MpiContext mpi(nullptr, nullptr);
  const std::string why = skip_reason(mpi);
  if (!why.empty()) GTEST_SKIP() << why;
  if (mpi.world() < 2) GTEST_SKIP() << "needs 2 or more ranks";
  auto backend = make_cuda_backend(device_of(mpi), GemmPrecision::kFP32);
  {
    auto comm = make_nccl_communicator(mpi, *backend, 2.0);
    if (mpi.rank() == 0) {
      DeviceBuffer d(backend.get(), 16);
      try {
        comm->allreduce_sum(d.data(), 16);
        ADD_FAILURE() << "an all-reduce without its peers completed";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("rank 0: NCCL all-reduce timed out after"), std::string::npos)
            << e.what();
      }
    }
    mpi.barrier();
  }  // the other ranks' communicators finalise (or abort after the timeout) here
  mpi.barrier();
}

// The backend's own host waits (synchronize, a marker, a copy to the host after a graph
// replay) may wait for work behind a collective that a peer never joins. The
// communicator's wait monitor must end them after its timeout, abort the communicator
// and name the rank, instead of a cudaEventSynchronize that only the watchdog ends.
TEST(NcclTimeout, AHostWaitBehindACollectiveAPeerNeverJoinsEndsWithAnError) {
  MpiContext mpi(nullptr, nullptr);
  const std::string why = skip_reason(mpi);
  if (!why.empty()) GTEST_SKIP() << why;
  if (mpi.world() < 2) GTEST_SKIP() << "needs 2 or more ranks";
  auto backend = make_cuda_backend(device_of(mpi), GemmPrecision::kFP32);
  for (const char* wait : {"synchronize()", "wait_marker()", "copy_to_host()"}) {
    SCOPED_TRACE(wait);
    auto comm = make_nccl_communicator(mpi, *backend, 2.0);
    DeviceBuffer d(backend.get(), 16);
    const bool graph = std::string(wait) == "copy_to_host()";
    if (graph) {  // captured on every rank (capturing runs nothing), replayed on rank 0 alone
      ASSERT_TRUE(backend->capture_begin());
      comm->allreduce_sum_async(d.data(), 16);
      comm->wait_all();
      backend->capture_end();
    }
    if (mpi.rank() == 0) {
      const auto start = std::chrono::steady_clock::now();
      try {
        if (graph) {
          backend->replay();
          float h = 0.0f;
          backend->copy_to_host(&h, d.data(), 1);
        } else {
          comm->allreduce_sum_async(d.data(), 16);
          comm->wait_all();  // the compute stream now waits for the collective; the host does not
          if (std::string(wait) == "synchronize()") backend->synchronize();
          else backend->wait_marker(backend->enqueue_marker());
        }
        ADD_FAILURE() << "a wait behind an all-reduce without its peers completed";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("rank 0: NCCL wait for the device in " + std::string(wait) +
                                             " timed out after"),
                  std::string::npos)
            << e.what();
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      EXPECT_LT(seconds, 30.0) << "timeout 2 s";
      EXPECT_FALSE(comm->usable()) << "the communicator must be aborted";
    }
    if (graph) backend->release_graph();
    mpi.barrier();
  }  // the other ranks' communicators finalise (or abort after the timeout) here
  mpi.barrier();
}

// A harmless capture failure on one rank (an error thrown inside the step while the
// last rank captures it): every rank discards its graph, checks the data plane, and
// trains on eagerly, the replicas staying identical; graph_failure() names the rank.
TEST_F(Nccl, ACaptureFailureOnOneRankSendsEveryRankBackToEagerSteps) {
  ModelConfig mc;
  mc.hidden = {64};
  mc.latent = 8;
  const int dim = 32, rows = 16, last = mpi_->world() - 1;
  auto model = make_model(mc, dim, *backend_, 1);
  ParamStore& ps = model->params();
  Adam adam(*backend_, ps.total(), TrainConfig{});
  GradReducer reducer(*comm_, ps.grads(), ps.reduced_size(), 500);
  StepShape shape;
  shape.rows = rows;
  shape.dim = dim;
  shape.global_batch = int64_t(rows) * mpi_->world();
  shape.seed = 3;
  shape.dynamic_binarize = true;
  {
    StepProgram program(*backend_, *model, adam, &reducer, shape);
    program.allow_graph(true, mpi_graph_agreement(*mpi_));
    int optimizer_phases = 0;  // the first is step 0's (eager), the second the capture of step 1
    program.set_phase_hook([&](const char* phase) {
      if (std::string(phase) == "optimizer" && ++optimizer_phases == 2 && mpi_->rank() == last)
        throw Error("injected: this step cannot be captured");
    });
    std::vector<float> upload(program.step_input_floats(), 0.5f);
    for (int step = 0; step < 5; ++step) {
      const StepScalars sc = program.scalars(step, uint64_t(step) * rows, 1.0f);
      std::memcpy(upload.data(), &sc, sizeof sc);
      backend_->copy_to_device(program.step_input(), upload.data(), upload.size());
      program.run(true);
    }
    EXPECT_FALSE(program.graph_active());
    EXPECT_NE(program.graph_failure().find("rank " + std::to_string(last) + ": injected"), std::string::npos)
        << program.graph_failure();
  }
  std::vector<float> p(ps.total());
  backend_->copy_to_host(p.data(), ps.params(), p.size());
  mpi_->require_same(crc32_bytes(p.data(), p.size() * sizeof(float)), "the parameters after eager steps");
}

TEST(NcclFactory, RejectsACpuBackend) {
  MpiContext mpi(nullptr, nullptr);
  auto cpu = make_cpu_backend();
  try {
    make_nccl_communicator(mpi, *cpu, 10.0);
    FAIL() << "NCCL accepted a CPU backend";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs a CUDA backend"), std::string::npos) << e.what();
  }
}

#else

TEST(Nccl, NeedsACudaBuild) { GTEST_SKIP() << "built without CUDA"; }

#endif

}  // namespace
}  // namespace elbo
