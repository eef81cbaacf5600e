// Single-GEMM speed of the MLP's shapes, in GFLOP/s (fastest of --reps calls):
// OpenBLAS's cblas_sgemm and oneDNN's dnnl_sgemm, each one call on one thread, and the
// CPU backend's gemm (fixed blocks of single-threaded dnnl_sgemm, partitioned_gemm.h)
// on 1 and 2 threads, and its bf16 layer GEMMs (train.precision: bf16, bf16_gemm.h) on
// 1 thread where the CPU has AMX or AVX512-BF16. For each layer in -> out at batch B, the three GEMMs of
// Linear: forward y = x W^T (B x out x in), weight gradient dW += dy^T x (out x in x B),
// input gradient dx = dy W (B x in x out).
//   build/release/elbo_gemm_bench [--reps 30] [--threads 2]
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../../src/backend/cpu/onednn_runtime.h"
#include "bench_common.h"
#include "elbo/backend.h"

namespace {

using elbo_bench::fastest_seconds;

struct Layer {
  int in, out;
};

}  // namespace

int main(int argc, char** argv) {
  int reps = 30, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--reps") reps = std::atoi(argv[i + 1]);
    else if (k == "--threads") threads = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  openblas_set_num_threads(1);
  elbo::onednn_use_one_thread();  // the direct dnnl_sgemm calls: on this thread alone
  auto one = elbo::make_cpu_backend(1);
  auto many = elbo::make_cpu_backend(threads);
  std::unique_ptr<elbo::Backend> bf16;
  try {
    bf16 = elbo::make_cpu_backend(1, elbo::GemmPrecision::kBF16);
  } catch (const std::exception& e) {
    std::printf("# no bf16 column: %s\n", e.what());
  }
  std::printf("# %s\n# %s; %s\n", elbo_bench::machine_description().c_str(), elbo::cpu_compute_library_info().c_str(),
              openblas_get_config());
  std::printf("# GFLOP/s, fastest of %d calls; backend = blocks of single-threaded dnnl_sgemm\n", reps);
  const std::string many_column = "backend" + std::to_string(threads);
  std::printf("%-5s %-10s %-7s %5s %5s %5s %9s %9s %9s %9s %9s\n", "batch", "layer", "gemm", "m", "n", "k", "openblas",
              "onednn", "backend1", many_column.c_str(), "bf16_1");
  // The MLP of the CPU-speed issue (784-400-400, latent 20) and the shipped configs' (784-512-256,
  // latent 32).
  const Layer layers[] = {{784, 400}, {400, 400}, {400, 40}, {20, 400}, {400, 784},
                          {784, 512}, {512, 256}, {256, 64}, {32, 256}, {256, 512}, {512, 784}};
  std::mt19937 gen(1);
  auto random = [&](size_t n) { return elbo_bench::random_values(n, gen); };
  double total_flop = 0, total_time[5] = {0, 0, 0, 0, 0};
  for (int batch : {64, 128}) {
    for (const Layer& l : layers) {
      const std::vector<float> x = random(size_t(batch) * l.in), w = random(size_t(l.out) * l.in),
                               dy = random(size_t(batch) * l.out);
      std::vector<float> y(size_t(batch) * l.out), dw(size_t(l.out) * l.in), dx(size_t(batch) * l.in);
      const elbo::GemmArgs gemms[3] = {
          {false, true, batch, l.out, l.in, 1.0f, x.data(), w.data(), 0.0f, y.data()},
          {true, false, l.out, l.in, batch, 1.0f, dy.data(), x.data(), 1.0f, dw.data()},
          {false, false, batch, l.in, l.out, 1.0f, dy.data(), w.data(), 0.0f, dx.data()}};
      const char* names[3] = {"forward", "dW", "dx"};
      for (int g = 0; g < 3; ++g) {
        const elbo::GemmArgs& a = gemms[g];
        const int lda = a.trans_a ? a.m : a.k, ldb = a.trans_b ? a.k : a.n;
        const double flop = 2.0 * a.m * a.n * a.k;
        const double t[5] = {
            fastest_seconds(reps,
                           [&] {
                             cblas_sgemm(CblasRowMajor, a.trans_a ? CblasTrans : CblasNoTrans,
                                         a.trans_b ? CblasTrans : CblasNoTrans, a.m, a.n, a.k, a.alpha, a.a, lda, a.b,
                                         ldb, a.beta, a.c, a.n);
                           }),
            fastest_seconds(reps,
                           [&] {
                             dnnl_sgemm(a.trans_a ? 'T' : 'N', a.trans_b ? 'T' : 'N', a.m, a.n, a.k, a.alpha, a.a,
                                        lda, a.b, ldb, a.beta, a.c, a.n);
                           }),
            fastest_seconds(reps, [&] { one->gemm(a); }), fastest_seconds(reps, [&] { many->gemm(a); }),
            bf16 ? fastest_seconds(reps, [&] { bf16->layer_gemms(&a, 1); }) : 0.0};
        total_flop += flop;
        for (int i = 0; i < 5; ++i) total_time[i] += t[i];
        std::printf("%-5d %4d->%-4d %-7s %5d %5d %5d %9.1f %9.1f %9.1f %9.1f %9.1f\n", batch, l.in, l.out, names[g], a.m,
                    a.n, a.k, flop / t[0] * 1e-9, flop / t[1] * 1e-9, flop / t[2] * 1e-9, flop / t[3] * 1e-9,
                    bf16 ? flop / t[4] * 1e-9 : 0.0);
      }
    }
  }
  std::printf("%-5s %-10s %-7s %5s %5s %5s %9.1f %9.1f %9.1f %9.1f %9.1f\n", "all", "(by time)", "", "", "", "",
              total_flop / total_time[0] * 1e-9, total_flop / total_time[1] * 1e-9, total_flop / total_time[2] * 1e-9,
              total_flop / total_time[3] * 1e-9, bf16 ? total_flop / total_time[4] * 1e-9 : 0.0);
  return 0;
}
