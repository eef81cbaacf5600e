// The generic op set every backend implements (memory, GEMM, convolution, element-wise,
// reductions, normalisation, gather, the optimizer's update); the distribution math of
// the VAE family is a separate interface that each backend also runs
// (distribution_kernels.h, through distributions()). Pointers are device pointers of the
// backend's device (host memory for the CPU backend); matrices are row-major.
// Results that the trainer reads (loss sums, norms) are written to device memory
// and copied back only when needed, so a GPU step never waits on the host.
// The arithmetic of every element-wise op is in kernels/math.h, shared by both backends.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "elbo/device.h"
#include "elbo/distribution_kernels.h"
#include "elbo/kernels/math.h"

namespace elbo {

enum class GemmPrecision { kFP32, kTF32, kBF16 };

// One GEMM's operands: C[m,n] = alpha * op(A) * op(B) + beta * C, row-major, dense rows.
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const float* a = nullptr;
  const float* b = nullptr;
  float beta = 0.0f;
  float* c = nullptr;
};

// One 2-D convolution, NCHW float32, cross-correlation as in PyTorch's conv2d:
// x [n, c_in, h, w], w [c_out, c_in, kh, kw] (PyTorch's weight layout), bias [c_out],
// y [n, c_out, out_h(), out_w()]. The same stride and zero padding on both axes; no
// dilation, no groups. check_conv_shape() says what is wrong with a shape.
// Channel blocks (Backend::channel_block): x_block / y_block = b > 1 says that x (and dx)
// or y (and dy) are stored channel-blocked, [n, c / b, h, w, b] (oneDNN's nChw16c for
// b = 16), the layout the backend's convolutions compute in; 1 is plain NCHW. Weights
// and bias are always plain.
struct ConvShape {
  int n = 0, c_in = 0, h = 0, w = 0;
  int c_out = 0, kh = 0, kw = 0;
  int stride = 1, pad = 0;
  int x_block = 1, y_block = 1;
  int out_h() const { return (h + 2 * pad - kh) / stride + 1; }
  int out_w() const { return (w + 2 * pad - kw) / stride + 1; }
  size_t x_size() const { return size_t(n) * c_in * h * w; }
  size_t y_size() const { return size_t(n) * c_out * out_h() * out_w(); }
  size_t w_size() const { return size_t(c_out) * c_in * kh * kw; }
};
// Throws an elbo::Error naming the op and the bad field unless every size is positive
// (n may be 0), stride >= 1, pad >= 0 and the padded input holds the kernel.
void check_conv_shape(const ConvShape& s, const char* op);

class Backend;
// Throws an elbo::Error: `op` is an optional op this backend does not implement (the
// defaults of the optional ops call it, so a missing op fails loudly, naming itself).
[[noreturn]] void fail_missing_op(const Backend& be, const char* op);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;
  // The distribution math (distribution_kernels.h): its own interface, run by this backend.
  virtual DistributionKernels& distributions() = 0;

  // ---- memory ----
  virtual float* alloc(size_t n) = 0;  // n floats, zero-filled
  // Must not throw: DeviceBuffer's destructor calls it, also while an error unwinds the
  // stack (a throw there is std::terminate, and the user never sees the first error).
  // A backend that cannot release reports it with report_cleanup_error().
  virtual void release(float* p) = 0;
  virtual void copy_to_device(float* dst, const float* host_src, size_t n) = 0;
  virtual void copy_to_host(float* host_dst, const float* src, size_t n) = 0;  // synchronises
  virtual void copy(float* dst, const float* src, size_t n) = 0;
  virtual void fill(float* x, size_t n, float value) = 0;
  // x[i] = w.at(i): a loss term's seed as its gradient (a device factor read on the device).
  virtual void fill_weight(float* x, size_t n, Weight w) = 0;
  virtual void synchronize() = 0;
  // Host staging memory for the loader (page-locked on CUDA, so copies are asynchronous).
  virtual float* alloc_host_staging(size_t n) { return new float[n](); }
  virtual void release_host_staging(float* p) { delete[] p; }  // must not throw, like release()

  // Markers in the device's queue of work: the host waits until the device has
  // passed one (and thus finished reading a staging buffer enqueued before it).
  // Also what bounds how far the host runs ahead of the device. A backend that
  // completes work synchronously (the CPU) returns 0 and never waits.
  virtual uint64_t enqueue_marker() { return 0; }
  virtual void wait_marker(uint64_t marker) { (void)marker; }

  // Step capture (CUDA graphs). A backend without it returns false from capture_begin
  // and the trainer runs the step eagerly.
  virtual bool capture_begin() { return false; }
  virtual void capture_end() {}
  // Ends a capture that went wrong and discards what was recorded (none of it ran).
  virtual void capture_abort() {}
  virtual void replay() {}
  // Destroys the captured graph. A graph that recorded NCCL collectives holds a
  // reference on the communicator, whose teardown waits for it: release the graph first.
  virtual void release_graph() {}
  // Changes whenever device memory is released that was alive when the latest capture
  // began: the captured graph may hold pointers into it, so it must not be replayed
  // (see graph_memory.h). 0 for ever on a backend that cannot capture.
  virtual uint64_t graph_generation() const { return 0; }

  // ---- dense algebra ----
  // C[m,n] = alpha * op(A) * op(B) + beta * C; op(A) is m x k, op(B) is k x n. Always
  // FP32 arithmetic: reductions written as GEMMs (sums against a ones vector) need it.
  virtual void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, const float* b,
                    float beta, float* c) = 0;
  void gemm(const GemmArgs& g) { gemm(g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, g.a, g.b, g.beta, g.c); }
  // A layer's products (a Linear's forward, or its weight and input gradients), each
  // independent of the others (none reads what another writes). train.precision applies
  // to these alone: a backend made for bf16 or tf32 rounds their inputs, FP32 sums. A
  // backend may run them side by side (the CPU backend's threads take blocks of all of
  // them from one queue, which beats cutting each in parts). Default: gemm() in order.
  virtual void layer_gemms(const GemmArgs* gemms, int count) {
    for (int i = 0; i < count; ++i) gemm(gemms[i]);
  }
  // y[r, c] = act(y[r, c] + bias[c]) in place.
  virtual void bias_act_forward(float* y, const float* bias, int rows, int cols, Activation act) = 0;
  // dx = dy * act'(y), from the activation's output y. dx may be dy (in place); no
  // other overlap is allowed, and neither may overlap y.
  virtual void act_backward(float* dx, const float* dy, const float* y, size_t n, Activation act) = 0;
  // db[c] += sum_r dy[r, c]
  virtual void bias_grad(float* db, const float* dy, int rows, int cols) = 0;
  // y += alpha * x
  virtual void axpy(float* y, const float* x, size_t n, float alpha) = 0;
  virtual void scale(float* x, size_t n, float alpha) = 0;

  // ---- 2-D convolution (NCHW, float32; see ConvShape) ----
  // Optional ops: the defaults throw an elbo::Error naming the op and the backend.
  // y = conv(x, w) + bias, assigned (bias may be null).
  virtual void conv2d_forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s);
  // dx = dL/dx + beta * dx for the gradient dy of y: beta 1 accumulates (the gradient
  // into a layer's input), beta 0 assigns without reading dx.
  virtual void conv2d_backward_data(float* dx, const float* dy, const float* w, const ConvShape& s, float beta);
  // dw += dL/dw, db += dL/dbias (db may be null): accumulates, like the other weight gradients.
  virtual void conv2d_backward_weights(float* dw, float* db, const float* dy, const float* x, const ConvShape& s);
  // The implementation that runs each conv op of this shape ("forward jit:avx512_core, ..."),
  // for logs and tests; empty when the backend has nothing to report.
  virtual std::string conv2d_implementation(const ConvShape& /*s*/) { return std::string(); }
  // The channel block b of the layout this backend's convolutions compute in ([n, c / b,
  // h, w, b]), which a graph may keep its feature maps in between convolutions so that
  // they are not reordered before and after each (nn/graph.h); 0: plain NCHW only. The
  // ops that take a layout say so (ConvShape, upsample2x and sum_pool2x's lanes); a graph
  // hands blocked maps to no other op but element-wise ones and per-image copies.
  virtual int channel_block() const { return 0; }

  // ---- layers of hierarchical models (nn/norm.h, nn/resample.h, nn/embedding.h) ----
  // Optional like the convolutions (the defaults throw); arithmetic in kernels/math.h and
  // kernels/layer_math.h. Gradients into a layer's input are assigned, or added when
  // `accumulate` (Node::input_grad_accumulates); parameter gradients always add. Every
  // reduction has a fixed order: the same bits for any thread count.
  // dx = dy * act'(x) from the activation's input x (see act_grad_needs_input); dx may be dy.
  virtual void act_backward_from_input(float* dx, const float* dy, const float* x, size_t n, Activation act);
  // dst[r * dst_stride + j] (=|+=) src[r * src_stride + j] for r < rows, j < cols: blocks of
  // columns of row-major matrices (concatenation along features or channels and its gradient).
  virtual void copy_columns(float* dst, size_t dst_stride, const float* src, size_t src_stride, int rows, size_t cols,
                            bool accumulate);
  // Nearest-neighbour 2x resampling of `planes` planes of h x w pixels (the small side),
  // each pixel `lanes` floats: plain NCHW is planes = n * c, lanes = 1; channel-blocked
  // maps are planes = n * c / b, lanes = b (channel_block):
  // upsample2x: big[p, 2i + a, 2j + b, l] (=|+=) alpha * small[p, i, j, l];
  // sum_pool2x: small[p, i, j, l] (=|+=) alpha * sum_{a, b in {0,1}} big[p, 2i + a, 2j + b, l]
  // (in the order (0,0), (0,1), (1,0), (1,1)). Each is the other's adjoint: upsample's backward
  // is sum_pool2x, average pooling is sum_pool2x with alpha 1/4 and its backward upsample2x.
  virtual void upsample2x(float* big, const float* small, int planes, int h, int w, int lanes, float alpha,
                          bool accumulate);
  virtual void sum_pool2x(float* small, const float* big, int planes, int h, int w, int lanes, float alpha,
                          bool accumulate);
  // Group norm (Wu & He 2018) of x [n, c, hw] in `groups` groups of c / groups channels:
  // y = (x - mean) * rstd * gamma[c] + beta[c], mean and rstd = 1 / sqrt(var + eps) per
  // (sample, group), written to stats [n, groups, 2] = (mean, rstd) for the backward.
  virtual void group_norm_forward(float* y, float* stats, const float* x, const float* gamma, const float* beta, int n,
                                  int c, int hw, int groups, float eps);
  // dx (=|+=) dL/dx (dx may be null: no input gradient); dgamma, dbeta += their gradients.
  virtual void group_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                                   const float* stats, const float* gamma, int n, int c, int hw, int groups,
                                   bool accumulate);
  // Weight norm (Salimans & Kingma 2016) per row (output unit) of v [rows, cols]:
  // w[r, :] = g[r] * v[r, :] / norms[r], norms[r] = ||v[r, :]|| written for the backward.
  virtual void weight_norm_forward(float* w, float* norms, const float* v, const float* g, int rows, int cols);
  // dv, dg += their gradients given dw.
  virtual void weight_norm_backward(float* dv, float* dg, const float* dw, const float* v, const float* g,
                                    const float* norms, int rows, int cols);
  // y[r, :] = table[index[r], :] (index: class numbers stored as floats; one outside
  // [0, classes) gives a zero row and no gradient).
  virtual void embedding_forward(float* y, const float* table, const float* index, int rows, int classes, int dim);
  // dtable[k, :] += sum of dy[r, :] over the rows r with index[r] = k, in row order.
  virtual void embedding_backward(float* dtable, const float* dy, const float* index, int rows, int classes, int dim);

  // dst[(r*times + t), :] = src[r, :]: one encoding feeds several importance samples.
  // The default issues one device copy per row; backends may do better.
  virtual void repeat_rows(float* dst, const float* src, int rows, int cols, int times) {
    for (int r = 0; r < rows; ++r)
      for (int t = 0; t < times; ++t) copy(dst + (size_t(r) * times + t) * cols, src + size_t(r) * cols, cols);
  }

  // ---- data ----
  // x = 1 if u < x else 0, u from key: dynamic binarization.
  virtual void binarize(float* x, int rows, int dim, const NoiseKey& key) = 0;

  // ---- reductions (deterministic: same inputs, same bits) ----
  virtual void sum(float* out, const float* x, size_t n) = 0;          // out[0] = sum x
  // out[b] = sum of x[i]^2 over block b = [b block, min((b + 1) block, n)), for each of the
  // ceil(n / block) blocks, summed in double. The gradient norm adds these partials in
  // block order (optim/update_guard.h): a rank holding whole blocks of a sharded gradient
  // computes its blocks' partials alone, and the norm has the unsharded run's bits.
  virtual void sum_squares_blocks(float* out, const float* x, size_t n, size_t block) = 0;
  // out[0] = 1 if every x is finite, else 0
  virtual void all_finite(float* out, const float* x, size_t n) = 0;

  // ---- optimiser ----
  // decide_update(gate, sumsq[0], health[0], rule): the UpdateGate of this step (kernels/math.h).
  virtual void update_gate(float* gate, const float* sumsq, const float* health, const UpdateRule& rule) = 0;
  // Adam/AdamW/Adamax over the flat buffers; grads are multiplied by gate[kScale]
  // (device scalars); when gate[kSkip] is set nothing changes. gate may be null.
  virtual void adam_step(float* params, const float* grads, float* m, float* v, size_t n, const AdamHyper& hyper,
                         const float* gate) = 0;
  // y += x, unless gate[kSkip] is set (a skipped step's loss stays out of the sums).
  virtual void add_unless_skipped(float* y, const float* x, size_t n, const float* gate) = 0;
  // ema = ema_value(ema, params, decay) element-wise, unless gate[kSkip] is set.
  virtual void ema_update(float* ema, const float* params, size_t n, float decay, const float* gate) = 0;
};

// The backend for a device. CUDA devices need a build with ELBO_WITH_CUDA.
std::unique_ptr<Backend> make_backend(const Device& device, GemmPrecision precision = GemmPrecision::kFP32);
// The CPU backend with `threads` threads for its element-wise loops (the caller's
// included); results are identical for every thread count. kBF16 rounds the inputs of
// layer_gemms to bf16 (AMX or AVX512-BF16; an error naming train.precision on a CPU
// without them); kTF32 is an error (a GPU format).
std::unique_ptr<Backend> make_cpu_backend(int threads = 1, GemmPrecision precision = GemmPrecision::kFP32);
// Threads that make_backend gives a CPU backend: set once per process, next to the
// BLAS thread count (cli: cores in the rank's affinity mask / ranks on the node).
void set_cpu_backend_threads(int threads);
int cpu_backend_threads();
// The CPU backend's compute library and the instruction set it runs on this CPU:
// "oneDNN 2.6.3 (OpenMP runtime, one thread per call), ISA avx512_core_amx" (for `elbo devices`).
std::string cpu_compute_library_info();
// "" when this CPU runs train.precision: bf16 (AMX or AVX512-BF16), else why not.
std::string cpu_bf16_unavailable_reason();
#if defined(ELBO_WITH_CUDA)
std::unique_ptr<Backend> make_cuda_backend(int device_index, GemmPrecision precision);
#endif
bool cuda_backend_compiled();
int cuda_device_count();  // 0 without a CUDA build or without a GPU
// "NVIDIA H200, 139.8 GiB, compute capability 9.0" for a visible device index.
std::string cuda_device_description(int index);
// A 64-bit digest of the device's UUID: equal on two ranks only when they use the same
// physical GPU, whatever CUDA_VISIBLE_DEVICES renumbered.
uint64_t cuda_device_uuid_digest(int index);

// For cleanup that must not throw (destructors, release paths; a throw while an error
// unwinds the stack is std::terminate and would hide that error): prints the failure
// to stderr, the first one only (after a device error every later release fails the
// same way), and carries on.
inline void report_cleanup_error(const char* what, const char* detail) noexcept {
  static std::atomic<bool> reported{false};
  if (reported.exchange(true)) return;
  std::fprintf(stderr, "elbo: warning: %s failed during cleanup (ignored; later cleanup errors are not shown): %s\n",
               what, detail);
  std::fflush(stderr);
}

// RAII device buffer of floats.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend* backend, size_t n) : backend_(backend), n_(n), p_(n ? backend->alloc(n) : nullptr) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : backend_(o.backend_), n_(o.n_), p_(o.p_) { o.p_ = nullptr; o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      backend_ = o.backend_; n_ = o.n_; p_ = o.p_;
      o.p_ = nullptr; o.n_ = 0;
    }
    return *this;
  }
  void reset() noexcept {
    // Never throws (the destructor and the noexcept move call it), whatever the backend.
    if (p_) {
      try {
        backend_->release(p_);
      } catch (const std::exception& e) {
        report_cleanup_error("releasing device memory", e.what());
      } catch (...) {
        report_cleanup_error("releasing device memory", "unknown error");
      }
    }
    p_ = nullptr;
    n_ = 0;
  }
  float* data() { return p_; }
  const float* data() const { return p_; }
  size_t size() const { return n_; }

 private:
  Backend* backend_ = nullptr;
  size_t n_ = 0;
  float* p_ = nullptr;
};

}  // namespace elbo
