// A rank's heartbeat must let it go when the next rank has already exited. MPI_Finalize
// does not line the ranks up (under srun, a rank was seen to leave while its predecessor
// was still saying goodbye), and a beat to a rank that has gone never completes: over TCP
// it waits for a connection to a closed listener. Before the fix, the heartbeat's
// destructor waited for that send for ever, srun waited for the task until Slurm's
// KillWait, and the SIGKILL took the job script's last word with it (a cancelled job's
// "not requeued" line went missing in CI).
//
// Run on 2 ranks over TCP (tests.cmake): rank 0 beats, leaves and exits; rank 1 beats
// once more after that (a new connection to the gone rank), then must be done saying
// goodbye within PeerHeartbeat::kGoodbyeSeconds and a margin. Exit 0 on success; not a
// gtest: rank 0 leaves before the test ends, which gtest's shared verdict would not allow.
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include <unistd.h>

#include "elbo/dist/mpi_context.h"
#include "elbo/dist/peer_heartbeat.h"

namespace {

using Clock = std::chrono::steady_clock;

void beat_for(elbo::PeerHeartbeat& heartbeat, std::chrono::milliseconds duration) {
  for (const auto end = Clock::now() + duration; Clock::now() < end;) {
    heartbeat.tick(elbo::steady_now_ns());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

int main(int argc, char** argv) {
  elbo::MpiContext mpi(&argc, &argv);
  if (mpi.world() != 2 || !mpi.thread_multiple()) {
    std::fprintf(stderr, "heartbeat_peer_gone: needs 2 ranks at MPI_THREAD_MULTIPLE\n");
    return 1;
  }
  auto heartbeat = std::make_unique<elbo::PeerHeartbeat>(mpi, 60.0);
  beat_for(*heartbeat, std::chrono::milliseconds(300));  // both ways connected
  // Rank 0 leaves only once rank 1's beats are written: a write cut by rank 0's exit
  // sends Open MPI's TCP transport into a loop of its own (seen once in CI: "invalid
  // connection state" for ever), which is not what this test is about.
  mpi.barrier();
  if (mpi.rank() == 0) {  // says goodbye and is gone (as a rank whose finalize returned early)
    heartbeat.reset();
    std::fflush(nullptr);
    _exit(0);  // mpirun lets it (tests.cmake: orte_allowed_exit_without_sync)
  }

  std::this_thread::sleep_for(std::chrono::seconds(2));  // rank 0 is gone by now
  heartbeat->tick(elbo::steady_now_ns());  // a beat to the rank that left
  const auto start = Clock::now();
  heartbeat.reset();
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  const double limit = elbo::PeerHeartbeat::kGoodbyeSeconds + 2.0;
  std::printf("heartbeat_peer_gone: goodbye took %.2f s (limit %.1f s)\n", took, limit);
  // Not MPI_Finalize: its fence would wait for rank 0, which left without one.
  std::fflush(nullptr);
  _exit(took <= limit ? 0 : 1);
}
