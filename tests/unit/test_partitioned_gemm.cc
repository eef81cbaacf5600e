// The CPU backend's GEMMs, cut into blocks over its worker pool: every shape, transpose
// and thread count against a double-precision reference, bitwise the same for every
// thread count, and layer_gemms of two equal to the two GEMMs one after the other.
// With train.precision: bf16 (where the CPU has AMX or AVX512-BF16): the layer GEMMs are
// the products of the bf16-rounded inputs summed in FP32, bitwise the same for every
// thread count, and every other GEMM stays FP32.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "elbo/backend.h"
#include "elbo/error.h"
#include "elbo/kernels/math.h"

namespace elbo {
namespace {

std::vector<float> random_matrix(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

// C = alpha op(A) op(B) + beta C in double, and the bound sum_k |a||b| that scales the
// rounding error of a float GEMM.
void reference_gemm(const GemmArgs& g, std::vector<float>& c, std::vector<double>& bound) {
  bound.assign(size_t(g.m) * g.n, 0.0);
  for (int i = 0; i < g.m; ++i)
    for (int j = 0; j < g.n; ++j) {
      double s = 0, abs_s = 0;
      for (int p = 0; p < g.k; ++p) {
        const double a = g.trans_a ? g.a[size_t(p) * g.m + i] : g.a[size_t(i) * g.k + p];
        const double b = g.trans_b ? g.b[size_t(j) * g.k + p] : g.b[size_t(p) * g.n + j];
        s += a * b;
        abs_s += std::fabs(a * b);
      }
      const size_t at = size_t(i) * g.n + j;
      bound[at] = std::fabs(g.alpha) * abs_s + std::fabs(g.beta * c[at]) + 1e-30;
      c[at] = float(g.alpha * s + g.beta * c[at]);
    }
}

struct Operands {
  std::vector<float> a, b, c;
  GemmArgs args;
};

Operands make_operands(bool ta, bool tb, int m, int n, int k, float beta, uint32_t seed) {
  Operands o{random_matrix(size_t(m) * k, seed), random_matrix(size_t(k) * n, seed + 1),
             random_matrix(size_t(m) * n, seed + 2), GemmArgs{}};
  o.args = GemmArgs{ta, tb, m, n, k, 0.75f, o.a.data(), o.b.data(), beta, o.c.data()};
  return o;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::vector<double>& bound,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::fabs(double(got[i]) - want[i]), 1e-5 * bound[i]) << what << " element " << i;
}

TEST(PartitionedGemm, MatchesTheReferenceForEveryShapeTransposeAndThreadCount) {
  // Sizes that do and do not fill the 16-wide blocks, below and above the size at which
  // a GEMM is split, wide (cut by columns) and tall (cut by rows), and k = 0.
  const int shapes[][3] = {{1, 1, 1}, {5, 4, 3}, {128, 512, 784}, {512, 784, 128}, {1000, 17, 300},
                           {33, 1000, 250}, {128, 64, 256}, {64, 48, 0}, {0, 8, 8}};
  for (int threads : {1, 2, 3, 5}) {
    auto be = make_cpu_backend(threads);
    for (const auto& s : shapes)
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) {
          Operands o = make_operands(ta, tb, s[0], s[1], s[2], 0.5f, uint32_t(s[0] * 31 + s[1] * 7 + s[2]));
          std::vector<float> want = o.c;
          std::vector<double> bound;
          reference_gemm(o.args, want, bound);
          be->gemm(o.args);
          expect_close(o.c, want, bound,
                       "threads " + std::to_string(threads) + " m,n,k " + std::to_string(s[0]) + "," +
                           std::to_string(s[1]) + "," + std::to_string(s[2]) + " ta " + std::to_string(ta) +
                           " tb " + std::to_string(tb));
        }
  }
}

TEST(PartitionedGemm, PairEqualsTheTwoGemmsInTurnForAnyThreadCount) {
  // A layer's backward: dW += dy^T x (512x784, k = rows) beside dx = dy W (rows x 784).
  const int rows = 96, in = 784, out = 512;
  for (int threads : {1, 2, 3, 4}) {
    auto be = make_cpu_backend(threads);
    Operands w = make_operands(true, false, out, in, rows, 1.0f, 11);
    Operands x = make_operands(false, false, rows, in, out, 0.0f, 21);
    Operands w_alone = w, x_alone = x;
    w_alone.args.a = w_alone.a.data(), w_alone.args.b = w_alone.b.data(), w_alone.args.c = w_alone.c.data();
    x_alone.args.a = x_alone.a.data(), x_alone.args.b = x_alone.b.data(), x_alone.args.c = x_alone.c.data();
    {
      const GemmArgs both[2] = {w.args, x.args};
      be->layer_gemms(both, 2);
    }
    be->gemm(w_alone.args);
    be->gemm(x_alone.args);
    std::vector<float> want_w = w_alone.c, want_x = x_alone.c;
    std::vector<double> bound;
    Operands w_ref = make_operands(true, false, out, in, rows, 1.0f, 11);
    reference_gemm(w_ref.args, w_ref.c, bound);
    expect_close(w.c, w_ref.c, bound, "pair dW, threads " + std::to_string(threads));
    Operands x_ref = make_operands(false, false, rows, in, out, 0.0f, 21);
    reference_gemm(x_ref.args, x_ref.c, bound);
    expect_close(x.c, x_ref.c, bound, "pair dx, threads " + std::to_string(threads));
    // The same blocks, whether paired or alone.
    EXPECT_EQ(w.c, want_w);
    EXPECT_EQ(x.c, want_x);
  }
}

// oneDNN's SGEMM rounds an element differently depending on the size of the block it
// is given, so the blocks must not depend on the thread count: every thread count
// gives the same bits, on odd shapes (blocks that end off the 16-wide tiles), shapes
// cut by rows and by columns, every transpose, beta 0 and 1, and a pair.
TEST(PartitionedGemm, BitwiseIdenticalForOneTwoAndThreeThreads) {
  const int shapes[][3] = {{129, 515, 77}, {515, 129, 77}, {97, 1001, 333}, {1001, 97, 333},
                           {128, 784, 400}, {400, 784, 128}, {67, 40, 401}, {3, 2049, 1025}};
  std::unique_ptr<Backend> backends[3] = {make_cpu_backend(1), make_cpu_backend(2), make_cpu_backend(3)};
  for (const auto& s : shapes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (float beta : {0.0f, 1.0f}) {
          const uint32_t seed = uint32_t(s[0] * 13 + s[1] * 5 + s[2] + ta * 2 + tb);
          Operands one = make_operands(ta, tb, s[0], s[1], s[2], beta, seed);
          backends[0]->gemm(one.args);
          for (int t = 1; t < 3; ++t) {
            Operands many = make_operands(ta, tb, s[0], s[1], s[2], beta, seed);
            backends[t]->gemm(many.args);
            ASSERT_EQ(many.c, one.c) << t + 1 << " threads, m,n,k " << s[0] << "," << s[1] << "," << s[2] << " ta "
                                     << ta << " tb " << tb << " beta " << beta;
          }
        }
  // A layer's two backward GEMMs side by side equal each one alone on one thread.
  Operands w1 = make_operands(true, false, 515, 777, 93, 1.0f, 3), x1 = make_operands(false, false, 93, 777, 515, 0.0f, 4);
  backends[0]->gemm(w1.args);
  backends[0]->gemm(x1.args);
  for (int t = 0; t < 3; ++t) {
    Operands w = make_operands(true, false, 515, 777, 93, 1.0f, 3), x = make_operands(false, false, 93, 777, 515, 0.0f, 4);
    {
      const GemmArgs both[2] = {w.args, x.args};
      backends[t]->layer_gemms(both, 2);
    }
    EXPECT_EQ(w.c, w1.c) << "pair dW, " << t + 1 << " threads";
    EXPECT_EQ(x.c, x1.c) << "pair dx, " << t + 1 << " threads";
  }
}

TEST(PartitionedGemm, RepeatedCallsAreBitwiseIdentical) {
  auto be = make_cpu_backend(2);
  Operands first = make_operands(false, true, 128, 512, 784, 0.0f, 5);
  Operands second = make_operands(false, true, 128, 512, 784, 0.0f, 5);
  be->gemm(first.args);
  be->gemm(second.args);
  EXPECT_EQ(first.c, second.c);
}


// ---- train.precision: bf16 ----

float bf16_rounded(float x) {
  const uint32_t bits = uint32_t(float_to_bf16_bits(x)) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

TEST(Bf16Rounding, NearestWithTiesToEvenAndSpecialValues) {
  EXPECT_EQ(bf16_rounded(1.0f), 1.0f);
  EXPECT_EQ(bf16_rounded(1.0f + 1.0f / 256), 1.0f);          // a tie: down to the even 1.0
  EXPECT_EQ(bf16_rounded(1.0f + 3.0f / 256), 1.0f + 4.0f / 256);  // a tie: up to the even neighbour
  EXPECT_EQ(bf16_rounded(1.0f + 1.0f / 256 + 1.0f / 65536), 1.0f + 2.0f / 256);  // above the tie
  EXPECT_EQ(bf16_rounded(-2.5f), -2.5f);
  EXPECT_TRUE(std::isnan(bf16_rounded(std::nanf(""))));
  EXPECT_EQ(bf16_rounded(INFINITY), INFINITY);
  EXPECT_EQ(bf16_rounded(3.4e38f), INFINITY);  // beyond bf16's largest finite value
}

std::unique_ptr<Backend> bf16_backend(int threads) { return make_cpu_backend(threads, GemmPrecision::kBF16); }

// Why this CPU cannot run bf16 products (the backend's own refusal), or "".
std::string bf16_unavailable() {
  try {
    bf16_backend(1);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

#define SKIP_WITHOUT_BF16() \
  if (const std::string why = bf16_unavailable(); !why.empty()) GTEST_SKIP() << why

TEST(Bf16Gemm, LayerGemmsAreTheRoundedInputsProductsSummedInFp32) {
  SKIP_WITHOUT_BF16();
  const int shapes[][3] = {{1, 1, 1}, {5, 4, 3}, {128, 200, 784}, {784, 200, 64}, {1000, 17, 300},
                           {33, 1000, 250}, {64, 48, 0}, {0, 8, 8}};
  for (int threads : {1, 2, 3}) {
    auto be = bf16_backend(threads);
    for (const auto& s : shapes)
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb)
          for (float beta : {0.0f, 1.0f}) {
            Operands o = make_operands(ta, tb, s[0], s[1], s[2], beta, uint32_t(s[0] * 31 + s[1] * 7 + s[2]));
            Operands rounded = o;
            for (float& x : rounded.a) x = bf16_rounded(x);
            for (float& x : rounded.b) x = bf16_rounded(x);
            rounded.args.a = rounded.a.data(), rounded.args.b = rounded.b.data(), rounded.args.c = rounded.c.data();
            std::vector<double> bound;
            reference_gemm(rounded.args, rounded.c, bound);
            be->layer_gemms(&o.args, 1);
            expect_close(o.c, rounded.c, bound,
                         "bf16, threads " + std::to_string(threads) + " m,n,k " + std::to_string(s[0]) + "," +
                             std::to_string(s[1]) + "," + std::to_string(s[2]) + " ta " + std::to_string(ta) +
                             " tb " + std::to_string(tb) + " beta " + std::to_string(beta));
          }
  }
}

TEST(Bf16Gemm, BitwiseIdenticalForOneTwoAndThreeThreads) {
  SKIP_WITHOUT_BF16();
  const int shapes[][3] = {{129, 515, 77}, {515, 129, 77}, {1001, 97, 333}, {400, 784, 128}, {67, 40, 401}};
  std::unique_ptr<Backend> backends[3] = {bf16_backend(1), bf16_backend(2), bf16_backend(3)};
  for (const auto& s : shapes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        const uint32_t seed = uint32_t(s[0] * 13 + s[1] * 5 + s[2] + ta * 2 + tb);
        Operands w1 = make_operands(ta, tb, s[0], s[1], s[2], 1.0f, seed);
        Operands x1 = make_operands(false, false, s[2], s[1], s[0], 0.0f, seed + 9);
        const GemmArgs pair1[2] = {w1.args, x1.args};
        backends[0]->layer_gemms(pair1, 2);
        for (int t = 1; t < 3; ++t) {
          Operands w = make_operands(ta, tb, s[0], s[1], s[2], 1.0f, seed);
          Operands x = make_operands(false, false, s[2], s[1], s[0], 0.0f, seed + 9);
          const GemmArgs pair[2] = {w.args, x.args};
          backends[t]->layer_gemms(pair, 2);
          ASSERT_EQ(w.c, w1.c) << t + 1 << " threads, m,n,k " << s[0] << "," << s[1] << "," << s[2];
          ASSERT_EQ(x.c, x1.c) << t + 1 << " threads, second of the pair";
        }
      }
}

// Reductions written as GEMMs (sums of log-densities against a ones vector) need every
// bit: only layer_gemms is rounded.
TEST(Bf16Gemm, PlainGemmStaysFp32) {
  SKIP_WITHOUT_BF16();
  auto bf16 = bf16_backend(2);
  auto fp32 = make_cpu_backend(2);
  Operands a = make_operands(false, true, 128, 300, 784, 0.0f, 8), b = make_operands(false, true, 128, 300, 784, 0.0f, 8);
  bf16->gemm(a.args);
  fp32->gemm(b.args);
  EXPECT_EQ(a.c, b.c);
  Operands c = make_operands(false, true, 128, 300, 784, 0.0f, 8);
  bf16->layer_gemms(&c.args, 1);
  EXPECT_NE(c.c, b.c) << "the layer GEMM was not rounded";
}

TEST(Bf16Gemm, Tf32IsRefusedOnTheCpu) {
  try {
    make_cpu_backend(1, GemmPrecision::kTF32);
    FAIL() << "tf32 accepted on the CPU";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.precision: tf32"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace elbo
