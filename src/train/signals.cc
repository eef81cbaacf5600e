#include "elbo/train/signals.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <thread>

namespace elbo {
namespace {
// Lock-free atomics are safe in a handler, and the flag is written on the listener thread
// and read on the trainer's.
std::atomic<int> g_signal{0};
std::atomic<unsigned> g_signal_count{0};
std::atomic<bool> g_handlers_installed{false};

void on_signal(int sig) {
  g_signal.store(sig);
  g_signal_count.fetch_add(1);
}

// SIGUSR1: sbatch --signal=USR1@T, the advance warning before the time limit.
constexpr int kStopSignals[] = {SIGTERM, SIGINT, SIGUSR1};

sigset_t stop_signal_set() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kStopSignals) sigaddset(&set, sig);
  return set;
}

bool is_stop_signal(int sig) {
  for (int s : kStopSignals)
    if (s == sig) return true;
  return false;
}
}  // namespace

void keep_stop_signals_off_compute_threads() {
  static std::once_flag once;
  std::call_once(once, [] {
    const sigset_t stop = stop_signal_set();
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    // The listener inherits the block and lifts it for itself alone: the kernel delivers a
    // signal sent to the process to a thread that does not block it, and the threads that
    // MPI_Init started before this point never run oneDNN either.
    std::thread listener([stop] {
      pthread_sigmask(SIG_UNBLOCK, &stop, nullptr);
      for (;;) pause();  // returns after each handled signal
    });
    listener.detach();
  });
}

void install_stop_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : kStopSignals) sigaction(sig, &sa, nullptr);
  g_handlers_installed.store(true);
}

void ignore_broken_pipes() {
  // A log line written to a pipe nobody reads any more must not kill a rank: after scancel,
  // srun stops forwarding the tasks' output while they are still writing their stop
  // checkpoint, and SIGPIPE's default action ended such a rank with exit code 141, which the
  // batch script then took for a failure. Ignored, the write fails with EPIPE and the stream
  // just stops printing; the run's files (metrics, checkpoints) are unaffected.
  std::signal(SIGPIPE, SIG_IGN);
}

bool stop_signal_received() { return g_signal.load() != 0; }
int last_stop_signal() { return g_signal.load(); }

const char* stop_signal_name(int sig) {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGUSR1 ? "SIGUSR1" : "a signal";
}

void signal_self(int sig) {
  const unsigned before = g_signal_count.load();
  kill(getpid(), sig);
  if (!is_stop_signal(sig) || !g_handlers_installed.load()) return;
  // The listener thread runs the handler; wait for it (bounded: a signal is never lost,
  // this only keeps the injected fault at its step).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (g_signal_count.load() == before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
}

}  // namespace elbo
