// Stop signals (SIGTERM, SIGINT, SIGUSR1) never run on a thread that computes.
// oneDNN 2.6's JIT f32 GEMM points the stack pointer into a heap workspace while it runs, so
// a signal handled on that thread writes its frame over the heap: before the stop signals
// were routed to a listener thread, a training rank stopped by scancel aborted with
// "corrupted size vs. prev_size" about one time in seven, and this test's signal storm
// aborted the process within a second.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>
#include <vector>

#include "elbo/backend.h"
#include "elbo/train/signals.h"

namespace elbo {
namespace {

std::atomic<long> g_handled{0};
std::atomic<long> g_forbidden_tid{-1}, g_forbidden_tid2{-1};
std::atomic<long> g_on_compute_thread{0};

long this_tid() { return long(syscall(SYS_gettid)); }

void record_thread(int) {
  const long tid = this_tid();
  if (tid == g_forbidden_tid.load() || tid == g_forbidden_tid2.load()) g_on_compute_thread.fetch_add(1);
  g_handled.fetch_add(1);
}

bool blocks(int sig) {
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, nullptr, &now);
  return sigismember(&now, sig) == 1;
}

// The layer shapes of the IWAE paper's decoder (250 rows): the JIT AVX-512 / AVX2 kernels.
void gemms(Backend& be, float* a, float* b, float* c) {
  be.gemm(false, false, 250, 784, 200, 1.0f, a, b, 0.0f, c);
  be.gemm(true, false, 200, 784, 250, 1.0f, a, c, 0.0f, b);
  std::vector<float> churn(1000 + size_t(this_tid() % 97));  // the heap in use meanwhile
  churn[0] = 1.0f;
}

TEST(StopSignals, RunOnlyOnTheListenerThreadWhileGemmsRun) {
  keep_stop_signals_off_compute_threads();
  EXPECT_TRUE(blocks(SIGTERM) && blocks(SIGINT) && blocks(SIGUSR1)) << "the calling thread must block them";
  struct sigaction sa {};
  sa.sa_handler = record_thread;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, nullptr), 0);

  auto be = make_cpu_backend(2);  // its worker thread starts here, after the block
  DeviceBuffer a_buf(be.get(), 250 * 200), b_buf(be.get(), 200 * 784), c_buf(be.get(), 250 * 784);
  float* a = a_buf.data();  // the CPU backend's memory is host memory
  float* b = b_buf.data();
  float* c = c_buf.data();
  for (int i = 0; i < 250 * 200; ++i) a[i] = 0.01f * float(i % 13);
  for (int i = 0; i < 200 * 784; ++i) b[i] = 0.02f * float(i % 7);
  g_forbidden_tid.store(this_tid());

  std::atomic<bool> done{false}, second_blocks{false};
  std::thread other([&] {  // a second computing thread, started after the block too
    second_blocks.store(blocks(SIGUSR1));
    g_forbidden_tid2.store(this_tid());
    auto be2 = make_cpu_backend(1);
    std::vector<float> a2(250 * 200, 0.01f), b2(200 * 784, 0.02f), c2(250 * 784);
    while (!done.load()) gemms(*be2, a2.data(), b2.data(), c2.data());
  });
  std::thread sender([&] {
    while (!done.load()) {
      kill(getpid(), SIGUSR1);
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  });
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  long rounds = 0;
  while (std::chrono::steady_clock::now() < end || g_handled.load() < 100) {
    gemms(*be, a, b, c);
    ++rounds;
  }
  done.store(true);
  sender.join();
  other.join();
  EXPECT_TRUE(second_blocks.load()) << "a thread started after the block must inherit it";
  EXPECT_GE(g_handled.load(), 100) << "the signals must still be handled (by the listener)";
  EXPECT_EQ(g_on_compute_thread.load(), 0) << "a stop signal ran on a computing thread ("
                                           << g_handled.load() << " handled over " << rounds << " rounds)";
}

TEST(StopSignals, SignalSelfReturnsOnceTheHandlerRan) {
  keep_stop_signals_off_compute_threads();
  install_stop_signal_handlers();
  ASSERT_FALSE(stop_signal_received());
  signal_self(SIGUSR1);  // handled on the listener thread, not on this one
  EXPECT_TRUE(stop_signal_received());
  EXPECT_EQ(last_stop_signal(), SIGUSR1);
  EXPECT_STREQ(stop_signal_name(last_stop_signal()), "SIGUSR1");
}

}  // namespace
}  // namespace elbo
