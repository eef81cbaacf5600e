#include "onednn_conv.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "aligned_bytes.h"
#include "conv_plan.h"
#include "lane_sum.h"
#include "elbo/error.h"
#include "onednn_runtime.h"

namespace elbo {
namespace {

using dnnl::memory;
using Args = std::unordered_map<int, memory>;

// What one thread needs to run chunks: its own stream (streams are not thread-safe),
// the chunk's tensors in the primitives' layouts, and a scratchpad.
struct Workspace {
  explicit Workspace(const dnnl::engine& engine) : stream(engine) {}
  dnnl::stream stream;
  AlignedBytes in_a, in_b, out, plain, scratch;
};

// The transpose of a "same" convolution s (runs_as_transpose): x and y trade places,
// with their layouts.
ConvShape transposed(const ConvShape& s) {
  ConvShape t = s;
  t.c_in = s.c_out;
  t.c_out = s.c_in;
  t.x_block = s.y_block;
  t.y_block = s.x_block;
  return t;
}

// The index of element (image, channel c, pixel i) of a map of `channels` channels and
// `plane` pixels stored with channel block b (1: NCHW; else [n, channels / b, plane, b]).
size_t map_index(size_t image, int c, size_t i, int channels, size_t plane, int b) {
  if (b == 1) return (image * size_t(channels) + size_t(c)) * plane + i;
  return ((image * size_t(channels / b) + size_t(c / b)) * plane + i) * size_t(b) + size_t(c % b);
}

// A chunk's weight and bias gradients as one SGEMM, for convolutions with few input taps
// (weight_gradient_by_gemm): its patches gathered as a taps x pixels matrix (im2col, taps
// in OIHW's order c, i, j; zeros where the kernel overhangs the padding) and its output
// gradient as a channels x pixels one, dw = dy * patches^T, db = each channel's sum
// (lane_sum, in double). Reads either layout, so blocked and plain operands give the same
// bits. Runs on the calling thread (oneDNN set to one thread by the caller).
void chunk_weight_gradient_by_gemm(float* dw, float* db, const float* dy, const float* x, const ConvShape& s,
                                   size_t first, size_t images, float* patches, float* grads) {
  const int oh = s.out_h(), ow = s.out_w();
  const size_t in_plane = size_t(s.h) * s.w, out_plane = size_t(oh) * ow, pixels = images * out_plane;
  const int taps = s.c_in * s.kh * s.kw;
  for (int c = 0; c < s.c_in; ++c)
    for (int i = 0; i < s.kh; ++i)
      for (int j = 0; j < s.kw; ++j) {
        float* row = patches + size_t((c * s.kh + i) * s.kw + j) * pixels;
        // The output columns whose tap j lands inside the image: ox * stride - pad + j in [0, w).
        const auto column = [&](int ox) { return ox * s.stride - s.pad + j; };
        int first_ox = 0, end_ox = ow;
        while (first_ox < ow && column(first_ox) < 0) ++first_ox;
        while (end_ox > first_ox && column(end_ox - 1) >= s.w) --end_ox;
        for (size_t image = 0; image < images; ++image)
          for (int oy = 0; oy < oh; ++oy) {
            const int iy = oy * s.stride - s.pad + i;
            float* out = row + image * out_plane + size_t(oy) * ow;
            if (iy < 0 || iy >= s.h) {
              std::fill(out, out + ow, 0.0f);
              continue;
            }
            std::fill(out, out + first_ox, 0.0f);
            std::fill(out + end_ox, out + ow, 0.0f);
            if (first_ox == end_ox) continue;
            // Row iy of channel c: neighbouring pixels are x_block floats apart (1 in NCHW).
            const float* in = x + map_index(first + image, c, size_t(iy) * s.w, s.c_in, in_plane, s.x_block);
            for (int ox = first_ox; ox < end_ox; ++ox) out[ox] = in[size_t(column(ox)) * size_t(s.x_block)];
          }
      }
  // dy one image and channel block at a time (a blocked map's lanes are neighbouring
  // channels, whose block of an image stays in cache while its lanes are copied out).
  const size_t b = size_t(s.y_block);
  for (size_t image = 0; image < images; ++image)
    for (int o0 = 0; o0 < s.c_out; o0 += s.y_block) {
      const float* in = dy + map_index(first + image, o0, 0, s.c_out, out_plane, s.y_block);
      float* out = grads + size_t(o0) * pixels + image * out_plane;
      for (size_t lane = 0; lane < b; ++lane)
        for (size_t p = 0; p < out_plane; ++p) out[lane * pixels + p] = in[p * b + lane];
    }
  const dnnl_status_t st = dnnl_sgemm('N', 'T', s.c_out, taps, dnnl_dim_t(pixels), 1.0f, grads, dnnl_dim_t(pixels),
                                      patches, dnnl_dim_t(pixels), 0.0f, dw, taps);
  ELBO_CHECK(st == dnnl_success, "conv2d_backward_weights: dnnl_sgemm of the weight gradient failed (status "
                                     << int(st) << ")");
  for (int o = 0; o < s.c_out; ++o) {
    const float* row = grads + size_t(o) * pixels;
    db[o] = float(lane_sum(pixels, [row](size_t p) { return row[p]; }));
  }
}

// Between the weights of s (OIHW, o < c_out, c < c_in) and those of its transpose: the
// channels swapped and the kernel turned by 180 degrees. For a same convolution,
//   y[o, p] = sum_c,i,j w[o, c, i, j] x[c, p + (i, j) - pad]
// is the transpose's backward data with weights flipped(w)[c, o, k-1-i, k-1-j], its
// backward data is the transpose's forward, and its weight gradient the transpose's,
// flipped back. The map is its own inverse (index to index), so one function serves.
size_t flipped_index(const ConvShape& s, int o, int c, int i, int j) {
  const int k = s.kh;
  return ((size_t(c) * s.c_out + o) * k + (k - 1 - i)) * k + (k - 1 - j);
}

// Calls f(index in s's OIHW weights, the same weight's index in the transpose's).
template <typename F>
void for_each_flipped_pair(const ConvShape& s, F&& f) {
  const int k = s.kh;
  for (int o = 0; o < s.c_out; ++o)
    for (int c = 0; c < s.c_in; ++c)
      for (int i = 0; i < k; ++i)
        for (int j = 0; j < k; ++j) f(((size_t(o) * s.c_in + c) * k + i) * k + j, flipped_index(s, o, c, i, j));
}

void flip_weights(const ConvShape& s, const float* w, std::vector<float>& out) {
  out.resize(s.w_size());
  for_each_flipped_pair(s, [&](size_t plain, size_t flipped) { out[flipped] = w[plain]; });
}

}  // namespace

bool OnednnConv::runs_as_transpose(const ConvShape& s) {
  constexpr int kVectorLanes = 16;  // floats in an AVX-512 register: oneDNN's channel block
  return s.stride == 1 && s.kh == s.kw && s.kh % 2 == 1 && s.pad == s.kh / 2 && s.c_out < kVectorLanes &&
         s.c_in >= kVectorLanes;
}

struct OnednnConv::Impl {
  explicit Impl(WorkerPool& p) : pool(p) {
    for (int t = 0; t < pool.threads(); ++t) workspaces.push_back(std::make_unique<Workspace>(engine));
  }

  // The chunks of one call: all of full->shape.n images but the last, which may be
  // smaller and use its own plan (rest).
  struct Chunks {
    ConvPlan* full = nullptr;
    ConvPlan* rest = nullptr;
    size_t count = 0;
    ConvPlan& plan(size_t c) const { return c + 1 == count && rest ? *rest : *full; }
  };

  ConvPlan& plan(const ConvShape& s, int images) {
    const std::array<int, 11> key{images, s.c_in, s.h, s.w, s.c_out, s.kh, s.kw, s.stride, s.pad, s.x_block, s.y_block};
    std::unique_ptr<ConvPlan>& slot = plans[key];
    if (!slot) {
      ConvShape chunk = s;
      chunk.n = images;
      slot = make_conv_plan(engine, chunk, OnednnConv::weight_gradient_by_gemm(chunk));
    }
    return *slot;
  }

  Chunks chunks(const ConvShape& s) {
    Chunks ch;
    ch.full = &plan(s, std::min(s.n, kChunkImages));
    ch.count = (size_t(s.n) + kChunkImages - 1) / kChunkImages;
    if (s.n > kChunkImages && s.n % kChunkImages) ch.rest = &plan(s, s.n % kChunkImages);
    return ch;
  }

  memory bytes(void* p, size_t n) {
    return memory(memory::desc({memory::dim(n)}, memory::data_type::u8, memory::format_tag::x), engine, p);
  }

  void execute(const dnnl::primitive& prim, size_t scratch_bytes, Args args, Workspace& ws) {
    if (scratch_bytes) args.emplace(DNNL_ARG_SCRATCHPAD, bytes(ws.scratch.get(scratch_bytes), scratch_bytes));
    prim.execute(ws.stream, args);
    ws.stream.wait();
  }

  // The user's tensor as op's primitive reads it: the memory itself, or its reorder into buf.
  memory input(const ConvOperand& op, const float* data, AlignedBytes& buf, Workspace& ws) {
    memory user(op.user, engine, const_cast<float*>(data));
    if (op.same) return user;
    memory chosen(op.chosen, engine, buf.get(op.chosen.get_size()));
    execute(op.to_chosen, op.to_chosen_scratch, {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, chosen}}, ws);
    return chosen;
  }
  // Where op's primitive writes: the user's tensor itself, or buf (then finish()).
  memory output(const ConvOperand& op, float* data, AlignedBytes& buf) {
    if (op.same) return memory(op.user, engine, data);
    return memory(op.chosen, engine, buf.get(op.chosen.get_size()));
  }
  void finish(const ConvOperand& op, const memory& written, float* data, Workspace& ws) {
    if (op.same) return;
    execute(op.to_user, op.to_user_scratch, {{DNNL_ARG_FROM, written}, {DNNL_ARG_TO, memory(op.user, engine, data)}},
            ws);
  }
  // The call's weights in the layout of op's primitive (on the calling thread, before the chunks run).
  memory weights(const ConvOperand& op, const float* w, AlignedBytes& buf) {
    return input(op, w, buf, *workspaces[0]);
  }

  // Runs f(chunk, workspace) for every chunk, on as many threads as there are chunks
  // (up to the pool's), each taking the next chunk from a shared counter. The first
  // exception of any thread is rethrown here, after all threads stopped.
  template <typename F>
  void run(const Chunks& ch, F&& f) {
    const size_t parts = std::min(ch.count, size_t(pool.threads()));
    std::atomic<size_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    auto body = [&](size_t part, size_t) {
      onednn_use_one_thread();
      try {
        for (size_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < ch.count;) f(c, *workspaces[part]);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next.store(ch.count);
      }
    };
    if (parts <= 1) body(0, 1);
    else pool.parallel_for(parts, 1, body);
    if (failure) std::rethrow_exception(failure);
  }

  WorkerPool& pool;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  std::map<std::array<int, 11>, std::unique_ptr<ConvPlan>> plans;
  int channel_block = -1;  // channel_block(), once probed (0 from the start with ELBO_CHANNEL_BLOCKS=0)
  std::vector<std::unique_ptr<Workspace>> workspaces;  // one per thread of the pool
  AlignedBytes weights_full, weights_rest;             // the call's weights in each plan's layout
  std::vector<float> partials;                         // per chunk: dw | db
  std::vector<float> zero_bias;
  std::vector<float> flipped, transposed_result;  // runs_as_transpose: weights, results
};

OnednnConv::OnednnConv(WorkerPool& pool) : impl_(std::make_unique<Impl>(pool)) {
  const char* env = std::getenv("ELBO_CHANNEL_BLOCKS");
  if (env && std::string(env) == "0") impl_->channel_block = 0;
}
OnednnConv::~OnednnConv() = default;

void OnednnConv::forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s) {
  check_conv_shape(s, "conv2d_forward");
  if (s.n == 0) return;
  if (runs_as_transpose(s)) {
    Impl& m = *impl_;
    flip_weights(s, w, m.flipped);
    backward_data(y, x, m.flipped.data(), transposed(s), 0.0f);
    if (bias) {
      const size_t plane = size_t(s.out_h()) * s.out_w();
      for (size_t image = 0; image < size_t(s.n); ++image)
        for (int o = 0; o < s.c_out; ++o) {
          const float b = bias[o];
          for (size_t i = 0; i < plane; ++i) y[map_index(image, o, i, s.c_out, plane, s.y_block)] += b;
        }
    }
    return;
  }
  onednn_use_one_thread();
  Impl& m = *impl_;
  const Impl::Chunks ch = m.chunks(s);
  if (!bias) {
    m.zero_bias.assign(size_t(s.c_out), 0.0f);
    bias = m.zero_bias.data();
  }
  const memory w_full = m.weights(ch.full->fwd_w, w, m.weights_full);
  const memory w_rest = ch.rest ? m.weights(ch.rest->fwd_w, w, m.weights_rest) : w_full;
  const size_t x_image = size_t(s.c_in) * s.h * s.w, y_image = size_t(s.c_out) * s.out_h() * s.out_w();
  m.run(ch, [&](size_t c, Workspace& ws) {
    const ConvPlan& p = ch.plan(c);
    const size_t first = c * OnednnConv::kChunkImages;
    float* yc = y + first * y_image;
    const memory src = m.input(p.fwd_x, x + first * x_image, ws.in_a, ws);
    const memory dst = m.output(p.fwd_y, yc, ws.out);
    m.execute(p.fwd, p.fwd_scratch,
              {{DNNL_ARG_SRC, src},
               {DNNL_ARG_WEIGHTS, &p == ch.rest ? w_rest : w_full},
               {DNNL_ARG_BIAS, memory(p.bias, m.engine, const_cast<float*>(bias))},
               {DNNL_ARG_DST, dst}},
              ws);
    m.finish(p.fwd_y, dst, yc, ws);
  });
}

void OnednnConv::backward_data(float* dx, const float* dy, const float* w, const ConvShape& s, float beta) {
  check_conv_shape(s, "conv2d_backward_data");
  if (s.n == 0) return;
  if (runs_as_transpose(s)) {
    Impl& m = *impl_;
    flip_weights(s, w, m.flipped);
    if (beta == 0.0f) {
      forward(dx, dy, m.flipped.data(), nullptr, transposed(s));
      return;
    }
    m.transposed_result.resize(s.x_size());
    forward(m.transposed_result.data(), dy, m.flipped.data(), nullptr, transposed(s));
    const float* __restrict r = m.transposed_result.data();
    for (size_t i = 0; i < s.x_size(); ++i) dx[i] = r[i] + beta * dx[i];
    return;
  }
  onednn_use_one_thread();
  Impl& m = *impl_;
  const Impl::Chunks ch = m.chunks(s);
  const memory w_full = m.weights(ch.full->bd_w, w, m.weights_full);
  const memory w_rest = ch.rest ? m.weights(ch.rest->bd_w, w, m.weights_rest) : w_full;
  const size_t x_image = size_t(s.c_in) * s.h * s.w, y_image = size_t(s.c_out) * s.out_h() * s.out_w();
  m.run(ch, [&](size_t c, Workspace& ws) {
    const ConvPlan& p = ch.plan(c);
    const size_t first = c * OnednnConv::kChunkImages, n = size_t(p.shape.n) * x_image;
    float* dxc = dx + first * x_image;
    // beta 0: the primitive's result is dx; otherwise it is added to beta * dx.
    float* result = beta == 0.0f ? dxc : static_cast<float*>(ws.plain.get(n * sizeof(float)));
    const memory ddst = m.input(p.bd_dy, dy + first * y_image, ws.in_a, ws);
    const memory dsrc = m.output(p.bd_dx, result, ws.out);
    m.execute(p.bwd_data, p.bd_scratch,
              {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, &p == ch.rest ? w_rest : w_full}, {DNNL_ARG_DIFF_SRC, dsrc}},
              ws);
    m.finish(p.bd_dx, dsrc, result, ws);
    if (beta != 0.0f) {
      const float b = beta;
      const float* __restrict r = result;
      for (size_t i = 0; i < n; ++i) dxc[i] = r[i] + b * dxc[i];
    }
  });
}

void OnednnConv::backward_weights(float* dw, float* db, const float* dy, const float* x, const ConvShape& s) {
  check_conv_shape(s, "conv2d_backward_weights");
  if (s.n == 0) return;
  if (runs_as_transpose(s)) {
    Impl& m = *impl_;
    // The transpose's weight gradient (its input is dy, its output gradient x), flipped back.
    m.transposed_result.assign(s.w_size(), 0.0f);
    backward_weights(m.transposed_result.data(), nullptr, x, dy, transposed(s));
    for_each_flipped_pair(s, [&](size_t plain, size_t flipped) { dw[plain] += m.transposed_result[flipped]; });
    if (db) {  // per output channel, over images and pixels in order, in double
      const size_t plane = size_t(s.out_h()) * s.out_w();
      for (int o = 0; o < s.c_out; ++o) {
        double acc = 0.0;
        for (size_t image = 0; image < size_t(s.n); ++image)
          for (size_t i = 0; i < plane; ++i) acc += dy[map_index(image, o, i, s.c_out, plane, s.y_block)];
        db[o] += float(acc);
      }
    }
    return;
  }
  onednn_use_one_thread();
  Impl& m = *impl_;
  const Impl::Chunks ch = m.chunks(s);
  const size_t w_size = s.w_size(), per_chunk = w_size + size_t(s.c_out);
  m.partials.resize(ch.count * per_chunk);
  const size_t x_image = size_t(s.c_in) * s.h * s.w, y_image = size_t(s.c_out) * s.out_h() * s.out_w();
  // Each chunk's gradient goes to its own slot of partials, in the plain layout.
  m.run(ch, [&](size_t c, Workspace& ws) {
    const ConvPlan& p = ch.plan(c);
    const size_t first = c * OnednnConv::kChunkImages;
    float* slot = m.partials.data() + c * per_chunk;
    if (p.weights_by_gemm) {
      const size_t images = size_t(p.shape.n), pixels = images * size_t(s.out_h()) * s.out_w();
      float* patches = static_cast<float*>(ws.in_a.get(pixels * size_t(s.c_in) * s.kh * s.kw * sizeof(float)));
      float* grads = static_cast<float*>(ws.in_b.get(pixels * size_t(s.c_out) * sizeof(float)));
      chunk_weight_gradient_by_gemm(slot, slot + w_size, dy, x, s, first, images, patches, grads);
      return;
    }
    const memory src = m.input(p.bw_x, x + first * x_image, ws.in_a, ws);
    const memory ddst = m.input(p.bw_dy, dy + first * y_image, ws.in_b, ws);
    const memory dweights = m.output(p.bw_dw, slot, ws.out);
    m.execute(p.bwd_weights, p.bw_scratch,
              {{DNNL_ARG_SRC, src},
               {DNNL_ARG_DIFF_DST, ddst},
               {DNNL_ARG_DIFF_WEIGHTS, dweights},
               {DNNL_ARG_DIFF_BIAS, memory(p.bias, m.engine, slot + w_size)}},
              ws);
    m.finish(p.bw_dw, dweights, slot, ws);
  });
  // The chunks' sums in chunk order (in double), whichever thread computed them.
  const float* partials = m.partials.data();
  const size_t count = ch.count, total = db ? per_chunk : w_size;
  m.pool.parallel_for(total, 4096, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      double acc = 0.0;
      for (size_t c = 0; c < count; ++c) acc += partials[c * per_chunk + i];
      if (i < w_size) dw[i] += float(acc);
      else db[i - w_size] += float(acc);
    }
  });
}

bool OnednnConv::weight_gradient_by_gemm(const ConvShape& s) { return s.c_in * s.kh * s.kw <= kGemmWeightTaps; }

int OnednnConv::channel_block() const {
  Impl& m = *impl_;
  if (m.channel_block >= 0) return m.channel_block;
  ConvShape probe;
  probe.n = kChunkImages;
  probe.c_in = probe.c_out = 32;
  probe.h = probe.w = 8;
  probe.kh = probe.kw = 3;
  probe.pad = 1;
  onednn_use_one_thread();
  const dnnl::memory::desc chosen = m.plan(probe, kChunkImages).fwd_pd.src_desc();
  m.channel_block = 0;
  for (const int b : {16, 8}) {
    const dnnl::memory::desc blocked({probe.n, probe.c_in, probe.h, probe.w}, memory::data_type::f32,
                                     b == 16 ? memory::format_tag::nChw16c : memory::format_tag::nChw8c);
    if (chosen == blocked) m.channel_block = b;
  }
  return m.channel_block;
}

std::string OnednnConv::implementation(const ConvShape& s) {
  check_conv_shape(s, "conv2d_implementation");
  if (runs_as_transpose(s)) return "as its transpose " + std::to_string(s.c_out) + "->" + std::to_string(s.c_in) +
                                   ": " + implementation(transposed(s));
  onednn_use_one_thread();
  const std::string impl = impl_->plan(s, s.n > 0 ? std::min(s.n, kChunkImages) : kChunkImages).implementation();
  return impl + " (chunks of " + std::to_string(kChunkImages) + " images)";
}

}  // namespace elbo
