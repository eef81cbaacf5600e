// The backend's 2-D convolutions (Backend::conv2d_*): forward, backward-data and
// backward-weights against a double-precision reference on odd shapes (stride 1 and 2,
// padding 0 and 1, kernels 3, 4 and 3x2, batches that are and are not whole chunks),
// a finite-difference check of all three gradients, bitwise equality for 1, 2 and 3
// threads, oneDNN's choice of implementation (never its reference loops), and no
// threads but the backend's own.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/error.h"
#include "support/gradient_check.h"

namespace elbo {
namespace {

ConvShape conv(int n, int c_in, int h, int w, int c_out, int kh, int kw, int stride, int pad) {
  ConvShape s;
  s.n = n, s.c_in = c_in, s.h = h, s.w = w, s.c_out = c_out, s.kh = kh, s.kw = kw, s.stride = stride, s.pad = pad;
  return s;
}

std::string str(const ConvShape& s) {
  return "n" + std::to_string(s.n) + " " + std::to_string(s.c_in) + "->" + std::to_string(s.c_out) + " " +
         std::to_string(s.h) + "x" + std::to_string(s.w) + " k" + std::to_string(s.kh) + "x" + std::to_string(s.kw) +
         " s" + std::to_string(s.stride) + " p" + std::to_string(s.pad);
}

// Batches of 5, 6, 16 (one whole chunk), 17, 33 and 40 images: the CPU backend cuts
// batches into chunks of 16. The last two run as their transposes on the CPU.
const ConvShape kShapes[] = {conv(5, 3, 9, 11, 7, 3, 3, 1, 0),    conv(17, 3, 9, 11, 7, 3, 3, 2, 1),
                             conv(33, 1, 12, 13, 8, 4, 4, 2, 1),  conv(18, 16, 7, 7, 24, 4, 4, 2, 1),
                             conv(20, 5, 8, 6, 3, 4, 4, 1, 0),    conv(3, 2, 7, 9, 4, 3, 2, 1, 1),
                             conv(16, 32, 14, 14, 64, 4, 4, 2, 1), conv(40, 4, 10, 10, 6, 3, 3, 2, 0),
                             // Narrower than the kernel: whole kernel columns fall into the
                             // padding on either side (the few-tap weight gradient's gather).
                             conv(6, 1, 5, 2, 4, 4, 4, 2, 1),
                             // Same convolutions into few channels: the CPU backend runs them as
                             // their transposes (OnednnConv::runs_as_transpose).
                             conv(17, 32, 9, 10, 1, 3, 3, 1, 1),  conv(5, 16, 7, 6, 4, 5, 5, 1, 2)};

// Index of x[n, c, h, w] in NCHW, of w[o, i, kh, kw] in OIHW.
size_t at(int n, int c, int h, int w, int C, int H, int W) { return ((size_t(n) * C + c) * H + h) * W + w; }

// Visits every (output element, input element, weight) triple of the convolution.
template <typename F>
void for_each_term(const ConvShape& s, F&& f) {
  const int oh = s.out_h(), ow = s.out_w();
  for (int n = 0; n < s.n; ++n)
    for (int o = 0; o < s.c_out; ++o)
      for (int y = 0; y < oh; ++y)
        for (int x = 0; x < ow; ++x)
          for (int i = 0; i < s.c_in; ++i)
            for (int ky = 0; ky < s.kh; ++ky)
              for (int kx = 0; kx < s.kw; ++kx) {
                const int iy = y * s.stride - s.pad + ky, ix = x * s.stride - s.pad + kx;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                f(at(n, o, y, x, s.c_out, oh, ow), at(n, i, iy, ix, s.c_in, s.h, s.w),
                  at(o, i, ky, kx, s.c_in, s.kh, s.kw));
              }
}

// A reference result with the bound sum |terms| that scales its float rounding error.
struct Reference {
  std::vector<double> value, bound;
  explicit Reference(size_t n) : value(n, 0.0), bound(n, 0.0) {}
  void add(size_t i, double term) {
    value[i] += term;
    bound[i] += std::fabs(term);
  }
};

void expect_close(const std::vector<float>& got, const Reference& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.value.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::fabs(got[i] - want.value[i]), 1e-5 * want.bound[i] + 1e-30) << what << " element " << i;
}

struct Tensors {
  std::vector<float> x, w, bias, dy;
  explicit Tensors(const ConvShape& s, uint32_t seed)
      : x(random_vector(s.x_size(), seed)),
        w(random_vector(s.w_size(), seed + 1)),
        bias(random_vector(size_t(s.c_out), seed + 2)),
        dy(random_vector(s.y_size(), seed + 3)) {}
};

TEST(ConvOps, ForwardMatchesTheReference) {
  auto be = make_cpu_backend(2);
  for (const ConvShape& s : kShapes) {
    const Tensors t(s, 1);
    Reference want(s.y_size());
    const size_t plane = size_t(s.out_h()) * s.out_w();
    for (size_t i = 0; i < s.y_size(); ++i) want.add(i, t.bias[(i / plane) % s.c_out]);
    for_each_term(s, [&](size_t y, size_t x, size_t w) { want.add(y, double(t.x[x]) * t.w[w]); });
    std::vector<float> y(s.y_size(), std::numeric_limits<float>::quiet_NaN());  // assigned, never read
    be->conv2d_forward(y.data(), t.x.data(), t.w.data(), t.bias.data(), s);
    expect_close(y, want, "forward " + str(s));
    // Without a bias.
    Reference no_bias(s.y_size());
    for_each_term(s, [&](size_t y, size_t x, size_t w) { no_bias.add(y, double(t.x[x]) * t.w[w]); });
    be->conv2d_forward(y.data(), t.x.data(), t.w.data(), nullptr, s);
    expect_close(y, no_bias, "forward without bias " + str(s));
  }
}

TEST(ConvOps, BackwardDataAssignsOrAccumulates) {
  auto be = make_cpu_backend(2);
  for (const ConvShape& s : kShapes) {
    const Tensors t(s, 2);
    const std::vector<float> before = random_vector(s.x_size(), 9);
    Reference assigned(s.x_size()), accumulated(s.x_size());
    for (size_t i = 0; i < before.size(); ++i) accumulated.add(i, before[i]);
    for_each_term(s, [&](size_t y, size_t x, size_t w) {
      assigned.add(x, double(t.dy[y]) * t.w[w]);
      accumulated.add(x, double(t.dy[y]) * t.w[w]);
    });
    std::vector<float> dx(s.x_size(), std::numeric_limits<float>::quiet_NaN());  // beta 0: never read
    be->conv2d_backward_data(dx.data(), t.dy.data(), t.w.data(), s, 0.0f);
    expect_close(dx, assigned, "backward_data beta 0 " + str(s));
    dx = before;
    be->conv2d_backward_data(dx.data(), t.dy.data(), t.w.data(), s, 1.0f);
    expect_close(dx, accumulated, "backward_data beta 1 " + str(s));
  }
}

TEST(ConvOps, BackwardWeightsAccumulates) {
  auto be = make_cpu_backend(2);
  for (const ConvShape& s : kShapes) {
    const Tensors t(s, 3);
    const std::vector<float> dw0 = random_vector(s.w_size(), 10), db0 = random_vector(size_t(s.c_out), 11);
    Reference dw_want(s.w_size()), db_want(size_t(s.c_out));
    for (size_t i = 0; i < dw0.size(); ++i) dw_want.add(i, dw0[i]);
    for (size_t i = 0; i < db0.size(); ++i) db_want.add(i, db0[i]);
    const size_t plane = size_t(s.out_h()) * s.out_w();
    for (size_t i = 0; i < s.y_size(); ++i) db_want.add((i / plane) % s.c_out, t.dy[i]);
    for_each_term(s, [&](size_t y, size_t x, size_t w) { dw_want.add(w, double(t.dy[y]) * t.x[x]); });
    std::vector<float> dw = dw0, db = db0;
    be->conv2d_backward_weights(dw.data(), db.data(), t.dy.data(), t.x.data(), s);
    expect_close(dw, dw_want, "backward_weights dw " + str(s));
    expect_close(db, db_want, "backward_weights db " + str(s));
    // Without a bias gradient: the same dw.
    std::vector<float> dw_alone = dw0;
    be->conv2d_backward_weights(dw_alone.data(), nullptr, t.dy.data(), t.x.data(), s);
    EXPECT_EQ(dw_alone, dw) << str(s);
  }
}

// loss = sum(y * r): dL/dy = r, and the three ops give dL/dx, dL/dw, dL/dbias.
TEST(ConvOps, GradientsMatchFiniteDifferences) {
  auto be = make_cpu_backend(1);
  // The third runs as its transpose on the CPU (OnednnConv::runs_as_transpose).
  for (const ConvShape& s :
       {conv(2, 2, 5, 6, 3, 3, 3, 2, 1), conv(3, 3, 4, 5, 2, 2, 3, 1, 0), conv(2, 16, 5, 4, 1, 3, 3, 1, 1)}) {
    Tensors t(s, 4);
    const std::vector<float> r = random_vector(s.y_size(), 12);
    std::vector<float> y(s.y_size());
    auto loss = [&] {
      be->conv2d_forward(y.data(), t.x.data(), t.w.data(), t.bias.data(), s);
      double sum = 0;
      for (size_t i = 0; i < y.size(); ++i) sum += double(y[i]) * r[i];
      return sum;
    };
    std::vector<float> dx(s.x_size()), dw(s.w_size(), 0.0f), db(size_t(s.c_out), 0.0f);
    be->conv2d_backward_data(dx.data(), r.data(), t.w.data(), s, 0.0f);
    be->conv2d_backward_weights(dw.data(), db.data(), r.data(), t.x.data(), s);
    expect_gradient(t.x, dx, loss, ("conv input " + str(s)).c_str());
    expect_gradient(t.w, dw, loss, ("conv weights " + str(s)).c_str());
    expect_gradient(t.bias, db, loss, ("conv bias " + str(s)).c_str());
  }
}

TEST(ConvOps, BitwiseIdenticalForOneTwoAndThreeThreads) {
  std::unique_ptr<Backend> backends[3] = {make_cpu_backend(1), make_cpu_backend(2), make_cpu_backend(3)};
  for (const ConvShape& s : kShapes) {
    const Tensors t(s, 5);
    std::vector<float> y[3], dx[3], dw[3], db[3];
    for (int i = 0; i < 3; ++i) {
      y[i].resize(s.y_size());
      dx[i] = random_vector(s.x_size(), 13);
      dw[i] = random_vector(s.w_size(), 14);
      db[i] = random_vector(size_t(s.c_out), 15);
      backends[i]->conv2d_forward(y[i].data(), t.x.data(), t.w.data(), t.bias.data(), s);
      backends[i]->conv2d_backward_data(dx[i].data(), t.dy.data(), t.w.data(), s, 1.0f);
      backends[i]->conv2d_backward_weights(dw[i].data(), db[i].data(), t.dy.data(), t.x.data(), s);
    }
    for (int i = 1; i < 3; ++i) {
      EXPECT_EQ(y[i], y[0]) << i + 1 << " threads, forward " << str(s);
      EXPECT_EQ(dx[i], dx[0]) << i + 1 << " threads, backward_data " << str(s);
      EXPECT_EQ(dw[i], dw[0]) << i + 1 << " threads, backward_weights dw " << str(s);
      EXPECT_EQ(db[i], db[0]) << i + 1 << " threads, backward_weights db " << str(s);
    }
  }
}

// Channel-blocked operands (ConvShape::x_block, y_block; nn/graph.h): the same bits as
// plain NCHW ones for every op, both backward-data modes, whole and partial chunks, the
// first layer's plain input, the GEMM-based backward data into few channels (its dy
// reordered to NCHW) and a convolution run as its transpose.
// [n, c, h, w] <-> [n, c / b, h, w, b]
std::vector<float> to_blocks(const std::vector<float>& plain, int n, int c, size_t plane, int b, bool back = false) {
  std::vector<float> out(plain.size());
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < c; ++ch)
      for (size_t p = 0; p < plane; ++p) {
        const size_t flat = (size_t(i) * c + ch) * plane + p;
        const size_t blocked = ((size_t(i) * (c / b) + ch / b) * plane + p) * b + ch % b;
        if (back)
          out[flat] = plain[blocked];
        else
          out[blocked] = plain[flat];
      }
  return out;
}

TEST(ConvOps, ChannelBlockedOperandsGiveThePlainBits) {
  auto be = make_cpu_backend(2);
  const int b = be->channel_block();
  if (b == 0) GTEST_SKIP() << "oneDNN chose no blocked layout for convolutions on this CPU";
  const ConvShape shapes[] = {conv(18, 16, 7, 7, 32, 3, 3, 1, 1), conv(20, 1, 8, 8, 16, 3, 3, 1, 1),
                              conv(17, 32, 9, 10, 1, 3, 3, 1, 1), conv(5, 2, 6, 6, 16, 1, 1, 1, 0),
                              conv(33, 16, 12, 12, 16, 4, 4, 2, 1),
                              // A 1x1 same convolution into 8 channels runs as its transpose
                              // (16 -> 8 becomes 8 -> 16, 8 taps): the few-tap weight gradient
                              // (OnednnConv::kGemmWeightTaps) then gathers patches from a blocked map.
                              conv(21, 16, 6, 6, 8, 1, 1, 1, 0),
                              // 16 taps gathered from a blocked map with stride 2 and padding:
                              // columns -1 and 7 of 7 fall outside (blocks of 8 and 16 alike).
                              conv(19, 16, 7, 7, 16, 1, 1, 2, 1)};
  for (const ConvShape& plain : shapes)
    for (const int xb : {1, b})
      for (const int yb : {1, b}) {
        if ((xb == 1 && yb == 1) || plain.c_in % xb || plain.c_out % yb) continue;
        ConvShape s = plain;
        s.x_block = xb;
        s.y_block = yb;
        const size_t x_plane = size_t(s.h) * s.w, y_plane = size_t(s.out_h()) * s.out_w();
        auto x_in = [&](const std::vector<float>& v) { return xb == 1 ? v : to_blocks(v, s.n, s.c_in, x_plane, xb); };
        auto y_in = [&](const std::vector<float>& v) { return yb == 1 ? v : to_blocks(v, s.n, s.c_out, y_plane, yb); };
        auto x_out = [&](const std::vector<float>& v) {
          return xb == 1 ? v : to_blocks(v, s.n, s.c_in, x_plane, xb, true);
        };
        auto y_out = [&](const std::vector<float>& v) {
          return yb == 1 ? v : to_blocks(v, s.n, s.c_out, y_plane, yb, true);
        };
        const std::string what = str(s) + " blocks " + std::to_string(xb) + "/" + std::to_string(yb);
        const Tensors t(plain, 21);
        std::vector<float> y(s.y_size()), yb_out(s.y_size());
        be->conv2d_forward(y.data(), t.x.data(), t.w.data(), t.bias.data(), plain);
        const std::vector<float> bx = x_in(t.x), bdy = y_in(t.dy);
        be->conv2d_forward(yb_out.data(), bx.data(), t.w.data(), t.bias.data(), s);
        EXPECT_EQ(y_out(yb_out), y) << "forward " << what;
        for (const float beta : {0.0f, 1.0f}) {
          std::vector<float> dx = random_vector(s.x_size(), 22);
          std::vector<float> dx_blocked = x_in(dx);
          be->conv2d_backward_data(dx.data(), t.dy.data(), t.w.data(), plain, beta);
          be->conv2d_backward_data(dx_blocked.data(), bdy.data(), t.w.data(), s, beta);
          EXPECT_EQ(x_out(dx_blocked), dx) << "backward_data beta " << beta << " " << what;
        }
        std::vector<float> dw = random_vector(s.w_size(), 23), db = random_vector(size_t(s.c_out), 24);
        std::vector<float> dw_blocked = dw, db_blocked = db;
        be->conv2d_backward_weights(dw.data(), db.data(), t.dy.data(), t.x.data(), plain);
        be->conv2d_backward_weights(dw_blocked.data(), db_blocked.data(), bdy.data(), bx.data(), s);
        EXPECT_EQ(dw_blocked, dw) << "backward_weights dw " << what;
        EXPECT_EQ(db_blocked, db) << "backward_weights db " << what;
      }
}

// oneDNN falls back to its reference loops (~800x slower) when it has nothing better;
// with layouts of its choice it must not for any tested shape.
TEST(ConvOps, OneDnnUsesOptimisedImplementations) {
  auto be = make_cpu_backend(1);
  for (const ConvShape& s : kShapes) {
    const std::string impl = be->conv2d_implementation(s);
    EXPECT_EQ(impl.find("ref"), std::string::npos) << str(s) << ": " << impl;
    EXPECT_NE(impl.find("forward"), std::string::npos) << impl;
  }
  EXPECT_NE(cpu_compute_library_info().find("oneDNN"), std::string::npos) << cpu_compute_library_info();
}

// Few input taps per output pixel (OnednnConv::kGemmWeightTaps): the weight gradient is
// one SGEMM per chunk over gathered patches (the shapes above check its values, its
// bits on 1-3 threads and in blocked layouts); more taps stay on oneDNN's kernel.
TEST(ConvOps, FewInputTapsTakeTheWeightGradientAsOneGemm) {
  auto be = make_cpu_backend(1);
  for (const ConvShape& s : {conv(16, 1, 28, 28, 32, 3, 3, 1, 1), conv(16, 1, 28, 28, 32, 4, 4, 2, 1)})
    EXPECT_NE(be->conv2d_implementation(s).find("backward_weights im2col + sgemm"), std::string::npos)
        << str(s) << ": " << be->conv2d_implementation(s);
  const ConvShape wide = conv(16, 32, 14, 14, 32, 3, 3, 1, 1);
  EXPECT_EQ(be->conv2d_implementation(wide).find("im2col"), std::string::npos) << be->conv2d_implementation(wide);
}

int threads_in_process() {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) n += entry.is_directory() ? 1 : 0;
  return n;
}

// oneDNN (OpenMP) would start a team of its own on each calling thread unless told to
// use one thread: the backend's pool must be the only threads that exist.
TEST(ConvOps, OneDnnStartsNoThreadsOfItsOwn) {
  const int before = threads_in_process();
  auto be = make_cpu_backend(3);
  EXPECT_EQ(threads_in_process(), before + 2) << "the pool: the caller and two workers";
  const ConvShape s = conv(40, 8, 12, 12, 16, 3, 3, 1, 1);
  const Tensors t(s, 6);
  std::vector<float> y(s.y_size()), dx(s.x_size()), dw(s.w_size()), db(size_t(s.c_out));
  be->conv2d_forward(y.data(), t.x.data(), t.w.data(), t.bias.data(), s);
  be->conv2d_backward_data(dx.data(), t.dy.data(), t.w.data(), s, 0.0f);
  be->conv2d_backward_weights(dw.data(), db.data(), t.dy.data(), t.x.data(), s);
  std::vector<float> a = random_vector(256 * 256, 7), c(256 * 256);
  be->gemm(false, true, 256, 256, 256, 1.0f, a.data(), a.data(), 0.0f, c.data());
  EXPECT_EQ(threads_in_process(), before + 2) << "oneDNN started threads of its own";
}

TEST(ConvOps, BadShapesAreClearErrors) {
  auto be = make_cpu_backend(1);
  float buffer[64] = {};
  ConvShape s = conv(1, 1, 3, 3, 1, 5, 5, 1, 0);  // kernel larger than the input
  try {
    be->conv2d_forward(buffer, buffer, buffer, nullptr, s);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv2d_forward"), std::string::npos) << e.what();
  }
  s = conv(1, 1, 3, 3, 1, 3, 3, 0, 0);  // stride 0
  EXPECT_THROW(be->conv2d_backward_data(buffer, buffer, buffer, s, 0.0f), Error);
  // An empty batch computes nothing and leaves the gradients as they were.
  s = conv(0, 1, 3, 3, 1, 3, 3, 1, 0);
  buffer[0] = 7.0f;
  be->conv2d_backward_weights(buffer, nullptr, buffer, buffer, s);
  EXPECT_EQ(buffer[0], 7.0f);
}

}  // namespace
}  // namespace elbo
