// The CPU backend's 2-D convolutions (Backend::conv2d_*): oneDNN primitives
// (conv_plan.h) run single-threaded on the backend's worker pool, one chunk of
// kChunkImages images at a time, the threads taking chunks from a shared queue.
//
// Results are bitwise the same for any thread count: the chunks depend on the batch
// size alone, an output or input-gradient element is computed within its image's
// chunk, and the weight and bias gradients are one partial sum per chunk, added up
// in chunk order after all chunks are done (a convolution run as its transpose sums its
// bias gradient over the batch in order, on the calling thread).
#pragma once
#include <memory>
#include <string>

#include "elbo/backend.h"
#include "worker_pool.h"

namespace elbo {

class OnednnConv {
 public:
  // Images per chunk: enough work for a chunk to amortise its reorders (a 28x28
  // 1->32 layer's chunk is 1.6M multiply-adds) and chunks enough to feed a few threads
  // at batch 64-128. Fixed, so that results never depend on the thread count.
  static constexpr int kChunkImages = 16;

  explicit OnednnConv(WorkerPool& pool);
  ~OnednnConv();
  OnednnConv(const OnednnConv&) = delete;
  OnednnConv& operator=(const OnednnConv&) = delete;

  // A "same" convolution (stride 1, odd square kernel, padding half of it) from many
  // channels into few (c_out < 16 <= c_in, a decoder's last layer) runs as its transpose:
  // oneDNN's direct kernels spread output channels over the vector lanes, so one output
  // channel fills 1 of 16 (a 32 -> 1 layer at 2 GFLOP/s), while its transpose (1 -> 32)
  // has the many channels in the lanes (about 4x faster over its three ops on 28x28
  // images; layers into 4 channels gained about 18 %, measured under load).
  static bool runs_as_transpose(const ConvShape& s);

  // Convolutions whose kernel reads at most kGemmWeightTaps input values per output pixel
  // (c_in * kh * kw: a 1-channel stem's 3x3 kernel has 9, a 4x4 one 16) get their weight
  // gradient as one SGEMM per chunk over gathered patches: oneDNN's direct backward-weights
  // kernel puts input channels in the vector lanes, so with 1 input channel it ran at
  // 2.7-2.9 GFLOP/s on AVX2 (10 % of the conv hvae's convolution time) against about 25
  // for 32 channels; the SGEMM runs the conv VAE's 1 -> 32 4x4 stride-2 layer's weight
  // gradient 2.2x faster on 1 thread, 3.4x on 2 (elbo_conv_bench, AMD EPYC Zen 1).
  static constexpr int kGemmWeightTaps = 16;
  static bool weight_gradient_by_gemm(const ConvShape& s);

  void forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s);
  void backward_data(float* dx, const float* dy, const float* w, const ConvShape& s, float beta);
  void backward_weights(float* dw, float* db, const float* dy, const float* x, const ConvShape& s);
  // The oneDNN implementations for a chunk of this shape.
  std::string implementation(const ConvShape& s);
  // Backend::channel_block: the channel block of the activation layout oneDNN's direct
  // kernels choose on this CPU (16 with AVX-512, 8 with AVX2), probed once on a 32-channel
  // 3x3 convolution on the first call (graphs are planned on one thread); 0 when it chose
  // no blocked layout, or when the environment variable ELBO_CHANNEL_BLOCKS was 0 when
  // this object was made (plain NCHW everywhere: the same bits, for comparisons).
  int channel_block() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace elbo
