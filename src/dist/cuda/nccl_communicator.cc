// NcclCommunicator: NCCL collectives for CUDA replicas.
//
// Ordering: collectives run on a dedicated high-priority stream. Before each one,
// that stream waits on an event recorded on the backend's compute stream (so the
// gradients it reduces are final); after it, an event is recorded that wait_all()
// and the blocking calls make the compute stream wait on. In the asynchronous path the
// host waits only for NCCL to accept each launch (a non-blocking communicator may answer
// ncclInProgress while its launch thread works), never for a collective to complete.
//
// CUDA graphs: these enqueues may be captured (the collective stream joins the capture
// through the events). A graph holding NCCL work keeps a reference on the communicator,
// and teardown waits for it: release the graph (Backend::release_graph) first. Init is
// given at least kInitTimeoutFloor, whatever timeout_s is.
//
// Never hang: the communicator is non-blocking (config.blocking = 0), so init and
// every enqueue may return ncclInProgress and are polled. Blocking calls poll the
// completion event and ncclCommGetAsyncError against a deadline of timeout_s; on an
// error or timeout the communicator is aborted (ncclCommAbort frees the GPU from
// kernels waiting on a dead peer) and an elbo::Error names the rank and the cause.
// The backend's own host waits (markers, synchronize, copies to the host), which may
// wait for work behind a collective (eager or inside a replayed graph), are watched
// the same way through CudaBackend's wait monitor.
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../../backend/cuda/cuda_backend.h"
#include "../../backend/cuda/cuda_check.h"
#include "elbo/dist/mpi_context.h"
#include "elbo/dist/nccl_communicator.h"
#include "elbo/dist/shard.h"
#include "elbo/error.h"

namespace elbo {
namespace {

using Clock = std::chrono::steady_clock;

// Non-blocking communicators, ncclCommFinalize and ncclGetLastError(comm) all exist from 2.14 on.
constexpr int kMinNcclVersion = 21400;

std::string version_string(int code) {
  // NCCL_VERSION(): X*1000 + Y*100 + Z up to 2.8, X*10000 + Y*100 + Z from 2.9 on.
  const int major = code >= 10000 ? code / 10000 : code / 1000;
  const int minor = code >= 10000 ? (code % 10000) / 100 : (code % 1000) / 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(code % 100);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(MpiContext& mpi, CudaBackend& backend, double timeout_s)
      : backend_(backend), rank_(mpi.rank()), world_(mpi.world()), timeout_s_(timeout_s) {
    ELBO_CHECK(timeout_s > 0, "rank " << rank_ << ": NCCL timeout must be > 0 s, got " << timeout_s);
    int version = 0;
    ncclResult_t vr = ncclGetVersion(&version);
    ELBO_CHECK(vr == ncclSuccess, "rank " << rank_ << ": ncclGetVersion failed: " << ncclGetErrorString(vr));
    ELBO_CHECK(version >= kMinNcclVersion, "rank " << rank_ << ": NCCL " << version_string(version)
                                                  << " is too old; elbo needs NCCL >= 2.14 (non-blocking "
                                                     "communicators)");
    name_ = "nccl " + version_string(version);
    // Mixed NCCL versions across ranks hang or corrupt collectives: refuse them up front.
    mpi.require_same(uint64_t(version), "the NCCL library version (" + name_ + " on rank " +
                                            std::to_string(rank_) + ")");

    // Rank 0 creates the id; a failure there is broadcast too, so no rank waits forever.
    struct IdMessage {
      int ok;
      char error[200];
      ncclUniqueId id;
    } msg{};
    if (mpi.is_root()) {
      ncclResult_t r = ncclGetUniqueId(&msg.id);
      msg.ok = r == ncclSuccess;
      if (!msg.ok) std::snprintf(msg.error, sizeof msg.error, "%s", ncclGetErrorString(r));
    }
    mpi.broadcast(&msg, sizeof msg, 0);
    ELBO_CHECK(msg.ok, "rank " << rank_ << ": NCCL init failed: rank 0 could not create the NCCL unique id: "
                               << msg.error);

    // Initialise locally, then agree: every rank learns which ranks failed and throws.
    std::string local_error;
    try {
      init(msg.id);
    } catch (const std::exception& e) {
      local_error = e.what();
    }
    const std::vector<uint64_t> failed = mpi.allgather(local_error.empty() ? 0 : 1);
    if (!local_error.empty()) {
      release_cuda_objects();
      throw Error(local_error);
    }
    std::ostringstream bad;
    for (int r = 0; r < world_; ++r)
      if (failed[size_t(r)]) bad << (bad.tellp() > 0 ? ", " : "") << r;
    if (!bad.str().empty()) {
      abort_comm();
      release_cuda_objects();
      ELBO_FAIL("rank " << rank_ << ": NCCL init failed on rank(s) " << bad.str() << " (see their messages)");
    }
    backend_.set_wait_monitor([this](const char* what, double waited_s) { watch_device_wait(what, waited_s); });
  }

  ~NcclCommunicator() override {
    backend_.set_wait_monitor({});
    cudaSetDevice(backend_.device_index());
    if (comm_) {
      if (std::uncaught_exceptions() > 0) {
        abort_comm();  // unwinding from an error: do not wait on peers that may be gone
      } else {
        // Finalize flushes outstanding collectives; poll it like everything else.
        const Clock::time_point start = Clock::now();
        ncclResult_t r = ncclCommFinalize(comm_);
        ncclResult_t state = r;
        while (state == ncclInProgress && seconds_since(start) < timeout_s_) {
          std::this_thread::yield();
          if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) break;
        }
        if (state == ncclSuccess) {
          ncclCommDestroy(comm_);
          comm_ = nullptr;
        } else {
          abort_comm();
        }
      }
    }
    release_cuda_objects();
  }

  std::string name() const override { return name_; }
  int rank() const override { return rank_; }
  int world() const override { return world_; }

  void allreduce_sum(float* buf, size_t n) override {
    if (n == 0) return;
    const Clock::time_point start = Clock::now();
    enqueue("all-reduce", start, [&] { return ncclAllReduce(buf, buf, n, ncclFloat32, ncclSum, comm_, stream_); });
    wait_done("all-reduce", start);
  }

  void broadcast(float* buf, size_t n, int root) override {
    ELBO_CHECK(root >= 0 && root < world_,
               "rank " << rank_ << ": NCCL broadcast root " << root << " is not a rank of a world of " << world_);
    if (n == 0) return;
    const Clock::time_point start = Clock::now();
    enqueue("broadcast", start,
            [&] { return ncclBroadcast(buf, buf, n, ncclFloat32, root, comm_, stream_); });
    wait_done("broadcast", start);
  }

  void allgather(const float* send, float* recv, size_t n) override {
    if (n == 0) return;
    const Clock::time_point start = Clock::now();
    enqueue("all-gather", start, [&] { return ncclAllGather(send, recv, n, ncclFloat32, comm_, stream_); });
    wait_done("all-gather", start);
  }

  // Shards are of unequal length (dist/shard.h), which ncclReduceScatter and
  // ncclAllGather do not take: one grouped ncclReduce / ncclBroadcast per shard, rooted at
  // its owner, in place (NCCL's usual way to gather unequal parts).
  // A communicator of one has nothing to add, and must not wait: the trainer reduce-scatters
  // (dist.zero) only where that keeps the all-reduce's bits, which on NCCL is one rank,
  // and does it inside the captured step, where a host wait for an event of the stream
  // being captured fails (cudaErrorCapturedEvent) and aborts the communicator.
  void reduce_scatter_sum(float* buf, size_t n) override {
    if (n == 0 || world_ == 1) return;
    const Clock::time_point start = Clock::now();
    enqueue("reduce-scatter", start, [&] {
      return grouped_per_shard(n, [&](int r, const Shard& s) {
        return ncclReduce(buf + s.begin, buf + s.begin, s.size(), ncclFloat32, ncclSum, r, comm_, stream_);
      });
    });
    wait_done("reduce-scatter", start);
  }

  // Part of the training step (after the sharded update): ordered on the compute stream,
  // the host does not wait (as wait_all), so the step can be captured and replayed.
  void allgather_shards(float* buf, size_t n) override {
    if (n == 0) return;
    const Clock::time_point start = Clock::now();
    enqueue("all-gather of shards", start, [&] {
      return grouped_per_shard(n, [&](int r, const Shard& s) {
        return ncclBroadcast(buf + s.begin, buf + s.begin, s.size(), ncclFloat32, r, comm_, stream_);
      });
    });
    backend_.make_current();
    CUDA_CHECK(cudaStreamWaitEvent(backend_.stream(), done_, 0));
  }

  // NCCL has no barrier: a one-element all-reduce completes on no rank before every
  // rank has contributed, and waiting for it on the host makes it a barrier.
  void barrier() override {
    const Clock::time_point start = Clock::now();
    enqueue("barrier", start,
            [&] { return ncclAllReduce(barrier_buf_, barrier_buf_, 1, ncclFloat32, ncclSum, comm_, stream_); });
    wait_done("barrier", start);
  }

  void allreduce_sum_async(float* buf, size_t n) override {
    if (n == 0) return;
    const Clock::time_point now = Clock::now();
    enqueue("all-reduce", now, [&] { return ncclAllReduce(buf, buf, n, ncclFloat32, ncclSum, comm_, stream_); });
    if (!pending_) pending_since_ = now;
    pending_ = true;
  }

  // The compute stream waits for every reduction started so far (the collective
  // stream is in order, so its latest event covers them all); the host does not.
  // NCCL collectives on a stream that joins the capture through events are recorded
  // into the graph (NCCL >= 2.9), and replay reduces the replayed step's gradients.
  bool capturable() const override { return true; }
  bool times_out_device_waits() const override { return true; }
  bool usable() const override { return comm_ != nullptr; }

  void wait_all() override {
    if (!pending_) return;
    require_live("all-reduce");
    check_async_error("all-reduce", pending_since_);
    backend_.make_current();
    CUDA_CHECK(cudaStreamWaitEvent(backend_.stream(), done_, 0));
    pending_ = false;
  }

 private:
  void init(const ncclUniqueId& id) {
    backend_.make_current();
    int least = 0, greatest = 0;
    CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    // High priority: reduction kernels get scheduled ahead of backward's kernels, so the overlap pays.
    CUDA_CHECK(cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking, greatest));
    CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
    CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&barrier_buf_), sizeof(float)));
    CUDA_CHECK(cudaMemset(barrier_buf_, 0, sizeof(float)));

    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    const Clock::time_point start = Clock::now();
    ncclResult_t r = ncclCommInitRankConfig(&comm_, world_, id, rank_, &config);
    if (r != ncclSuccess && r != ncclInProgress) {
      // comm_ may or may not have been created: abort whatever exists.
      fail("init", start, false, describe(r));
    }
    // Init gets at least kInitTimeoutFloor: building rings, trees and NVLS on a large
    // node or job can take tens of seconds, more than a short dist.timeout_s.
    await_ready(r, "init", start, std::max(timeout_s_, kInitTimeoutFloor));
  }

  static constexpr double kInitTimeoutFloor = 120.0;

  // call(r, shard of rank r) for every non-empty shard inside one NCCL group; the
  // group's end is the launch (it may answer ncclInProgress: enqueue() polls).
  template <class Call>
  ncclResult_t grouped_per_shard(size_t n, Call&& call) {
    ncclResult_t r = ncclGroupStart();
    if (r != ncclSuccess) return r;
    ncclResult_t first_error = ncclSuccess;
    for (int q = 0; q < world_; ++q) {
      const Shard s = shard_of(n, world_, q);
      if (s.size() == 0) continue;
      const ncclResult_t e = call(q, s);
      if (e != ncclSuccess && e != ncclInProgress && first_error == ncclSuccess) first_error = e;
    }
    const ncclResult_t end = ncclGroupEnd();
    return first_error != ncclSuccess ? first_error : end;
  }

  // Runs `call` (an NCCL enqueue on stream_) after the compute stream's work so far.
  template <class Call>
  void enqueue(const char* what, Clock::time_point start, Call&& call) {
    require_live(what);
    backend_.make_current();
    CUDA_CHECK(cudaEventRecord(ready_, backend_.stream()));
    CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_, 0));
    await_ready(call(), what, start);
    CUDA_CHECK(cudaEventRecord(done_, stream_));
  }

  // A non-blocking communicator may answer ncclInProgress; NCCL's rule is to poll
  // ncclCommGetAsyncError until it says ncclSuccess before the next NCCL call.
  void await_ready(ncclResult_t r, const char* what, Clock::time_point start) {
    await_ready(r, what, start, timeout_s_);
  }
  void await_ready(ncclResult_t r, const char* what, Clock::time_point start, double timeout_s) {
    if (r == ncclSuccess) return;
    if (r != ncclInProgress) fail(what, start, false, describe(r));
    for (;;) {
      ncclResult_t state = ncclSuccess;
      ncclResult_t q = ncclCommGetAsyncError(comm_, &state);
      if (q != ncclSuccess) fail(what, start, false, describe(q));
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) fail(what, start, false, describe(state));
      if (seconds_since(start) > timeout_s) fail(what, start, true, "NCCL still in progress", timeout_s);
      std::this_thread::yield();
    }
  }

  // Host wait for the latest collective, polling for asynchronous errors and the deadline.
  void wait_done(const char* what, Clock::time_point start) {
    for (;;) {
      cudaError_t q = cudaEventQuery(done_);
      if (q == cudaSuccess) break;
      if (q != cudaErrorNotReady) {
        cudaGetLastError();
        fail(what, start, false, std::string("CUDA error: ") + cudaGetErrorName(q) + ": " + cudaGetErrorString(q));
      }
      check_async_error(what, start);
      if (seconds_since(start) > timeout_s_)
        fail(what, start, true, "the collective did not complete (a peer rank died, is stuck, or is not calling it)");
      std::this_thread::yield();
    }
    // Already complete; this only keeps the compute stream's ordering explicit.
    CUDA_CHECK(cudaStreamWaitEvent(backend_.stream(), done_, 0));
    pending_ = false;
  }

  // Called by the backend between polls while the host waits for the device. The work
  // waited for may follow a collective that never completes (a dead peer): NCCL's
  // asynchronous error, or the wait passing timeout_s, aborts the communicator (which
  // also ends NCCL kernels spinning on the peer) and throws naming the rank and cause.
  void watch_device_wait(const char* what, double waited_s) {
    // Called at every poll: no allocation unless something is wrong.
    ncclResult_t state = ncclSuccess;
    const ncclResult_t q = comm_ ? ncclCommGetAsyncError(comm_, &state) : ncclSuccess;
    const bool nccl_error = q != ncclSuccess || (state != ncclSuccess && state != ncclInProgress);
    if (!nccl_error && waited_s <= timeout_s_) return;
    const Clock::time_point start =
        Clock::now() - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(waited_s));
    const std::string op = std::string("wait for the device in ") + what;
    if (nccl_error) fail(op.c_str(), start, false, describe(q != ncclSuccess ? q : state));
    if (comm_)
      fail(op.c_str(), start, true,
           "the device did not finish: a collective it runs may never complete (a peer rank died, is stuck, or is "
           "not calling it)");
    // Aborted after an earlier error (already reported): still never wait for ever.
    ELBO_FAIL("rank " << rank_ << ": " << op << " timed out after " << waited_s << " s (timeout " << timeout_s_
                      << " s) after the NCCL communicator was aborted");
  }

  void check_async_error(const char* what, Clock::time_point start) {
    ncclResult_t state = ncclSuccess;
    ncclResult_t q = ncclCommGetAsyncError(comm_, &state);
    if (q != ncclSuccess) fail(what, start, false, describe(q));
    if (state != ncclSuccess && state != ncclInProgress) fail(what, start, false, describe(state));
  }

  std::string describe(ncclResult_t r) const {
    std::string s = ncclGetErrorString(r);
    const char* last = ncclGetLastError(comm_);
    if (last && *last) s += std::string(" (") + last + ")";
    return s;
  }

  [[noreturn]] void fail(const char* what, Clock::time_point start, bool timed_out, const std::string& reason) {
    fail(what, start, timed_out, reason, timeout_s_);
  }
  [[noreturn]] void fail(const char* what, Clock::time_point start, bool timed_out, const std::string& reason,
                         double timeout_s) {
    const double elapsed = seconds_since(start);
    abort_comm();
    std::ostringstream secs;
    secs.precision(3);
    secs << elapsed;
    ELBO_FAIL("rank " << rank_ << ": NCCL " << what << (timed_out ? " timed out" : " failed") << " after "
                      << secs.str() << " s (timeout " << timeout_s << " s): " << reason);
  }

  void require_live(const char* what) const {
    ELBO_CHECK(comm_, "rank " << rank_ << ": NCCL " << what
                              << " called on a communicator that was aborted after an earlier error");
  }

  void abort_comm() noexcept {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    pending_ = false;
  }

  void release_cuda_objects() noexcept {
    cudaSetDevice(backend_.device_index());
    if (stream_) cudaStreamSynchronize(stream_);
    if (ready_) cudaEventDestroy(ready_);
    if (done_) cudaEventDestroy(done_);
    if (barrier_buf_) cudaFree(barrier_buf_);
    if (stream_) cudaStreamDestroy(stream_);
    ready_ = done_ = nullptr;
    barrier_buf_ = nullptr;
    stream_ = nullptr;
    cudaGetLastError();
  }

  CudaBackend& backend_;
  int rank_, world_;
  double timeout_s_;
  std::string name_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;  // recorded on the compute stream before each collective
  cudaEvent_t done_ = nullptr;   // recorded on stream_ after each collective
  float* barrier_buf_ = nullptr;
  bool pending_ = false;         // an async all-reduce the compute stream has not joined yet
  Clock::time_point pending_since_;
};

}  // namespace

int nccl_runtime_version() {
  int version = 0;
  return ncclGetVersion(&version) == ncclSuccess ? version : 0;
}

std::unique_ptr<Communicator> make_nccl_communicator(MpiContext& mpi, Backend& backend, double timeout_s) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  ELBO_CHECK(cuda, "rank " << mpi.rank() << ": the NCCL communicator needs a CUDA backend, but this replica runs on "
                           << backend.name() << " (use dist.backend: mpi)");
  return std::make_unique<NcclCommunicator>(mpi, *cuda, timeout_s);
}

}  // namespace elbo
