// Speed of the CPU backend's 2-D convolutions (oneDNN, onednn_conv.h) on a small
// convolutional VAE encoder's layers: forward, backward-data (accumulating) and
// backward-weights, and the three together (a training step's work for the layer),
// in ms per batch, samples/s and GFLOP/s (fastest of --reps), on 1 and --threads threads.
// tests/bench/conv_peer.py times PyTorch on the same layers and runs this binary too.
//   build/release/elbo_conv_bench [--batch 128] [--threads 2] [--reps 20]
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench_common.h"
#include "elbo/backend.h"

namespace {

using elbo_bench::fastest_seconds;

struct Layer {
  const char* name;
  int c_in, h, w, c_out, k, stride, pad;
};

}  // namespace

int main(int argc, char** argv) {
  int batch = 128, threads = 2, reps = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--batch") batch = std::atoi(argv[i + 1]);
    else if (k == "--threads") threads = std::atoi(argv[i + 1]);
    else if (k == "--reps") reps = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  // Kept in step with conv_peer.py's LAYERS.
  const Layer layers[] = {{"conv1 1->32 28x28 k4 s2 p1", 1, 28, 28, 32, 4, 2, 1},
                          {"conv2 32->64 14x14 k4 s2 p1", 32, 14, 14, 64, 4, 2, 1}};
  std::printf("# %s\n# elbo CPU backend, %s\n", elbo_bench::machine_description().c_str(),
              elbo::cpu_compute_library_info().c_str());
  std::printf("%-8s %-28s %-16s %7s %9s %11s %8s\n", "who", "layer", "op", "threads", "ms", "samples/s", "GFLOP/s");
  std::mt19937 gen(1);
  auto random = [&](size_t n) { return elbo_bench::random_values(n, gen); };
  std::vector<int> thread_counts{1};
  if (threads > 1) thread_counts.push_back(threads);
  for (int t : thread_counts) {
    auto be = elbo::make_cpu_backend(t);
    for (const Layer& l : layers) {
      elbo::ConvShape s;
      s.n = batch, s.c_in = l.c_in, s.h = l.h, s.w = l.w, s.c_out = l.c_out, s.kh = s.kw = l.k;
      s.stride = l.stride, s.pad = l.pad;
      if (t == 1) std::printf("# %s: %s\n", l.name, be->conv2d_implementation(s).c_str());
      std::vector<float> x = random(s.x_size()), w = random(s.w_size()), b = random(size_t(s.c_out)),
                         dy = random(s.y_size()), y(s.y_size()), dx(s.x_size()), dw(s.w_size()), db(size_t(s.c_out));
      const double flop = 2.0 * s.n * s.c_out * s.out_h() * s.out_w() * s.c_in * s.kh * s.kw;
      auto fwd = [&] { be->conv2d_forward(y.data(), x.data(), w.data(), b.data(), s); };
      auto bwd_data = [&] { be->conv2d_backward_data(dx.data(), dy.data(), w.data(), s, 1.0f); };
      auto bwd_weights = [&] { be->conv2d_backward_weights(dw.data(), db.data(), dy.data(), x.data(), s); };
      const struct {
        const char* op;
        std::function<void()> f;
        double flop;
      } ops[] = {{"forward", fwd, flop},
                 {"backward_data", bwd_data, flop},
                 {"backward_weights", bwd_weights, flop},
                 {"all three", [&] { fwd(), bwd_data(), bwd_weights(); }, 3 * flop}};
      for (const auto& op : ops) {
        const double sec = fastest_seconds(reps, op.f);
        std::printf("%-8s %-28s %-16s %7d %9.3f %11.0f %8.1f\n", "elbo", l.name, op.op, t, sec * 1e3, batch / sec,
                    op.flop / sec * 1e-9);
      }
    }
  }
  return 0;
}
