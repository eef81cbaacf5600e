// The oneDNN primitives of one convolution shape at one chunk size (ConvShape::n is
// the images per chunk): forward, backward-data and backward-weights, each with the
// memory layouts oneDNN chose for it and the reorders between those and the user's
// tensors: OIHW weights, NCHW or channel-blocked activations (ConvShape::x_block,
// y_block). A graph that keeps its feature maps in the blocked layout oneDNN chooses
// (nChw16c on AVX-512) hands them over as they are, with no reorder (nn/graph.h).
//
// Why oneDNN chooses (format_tag::any): with the user's plain layouts imposed it picks
// its im2col+GEMM code, 2-3x slower (and a reference loop, ~800x slower, for some
// shapes); with layouts of its choice it runs its direct JIT kernels. Reordering the
// activations of each chunk costs less than that difference. (One exception, measured:
// backward data into fewer than 4 channels runs faster on plain layouts.)
//
// Every primitive uses a user-provided scratchpad, so that several threads can run the
// same plan on different chunks at once.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <string>

#include "elbo/backend.h"

namespace elbo {

// A tensor the user holds in one layout and a primitive wants in its own. When the
// two are the same, the primitive reads or writes the user's memory directly.
struct ConvOperand {
  dnnl::memory::desc user, chosen;
  bool same = true;
  dnnl::reorder to_chosen, to_user;  // set when !same
  size_t to_chosen_scratch = 0, to_user_scratch = 0;  // scratchpad bytes of each
};

struct ConvPlan {
  ConvShape shape;  // n: images per chunk
  // The weight gradient runs as im2col + SGEMM (OnednnConv::weight_gradient_by_gemm):
  // the plan then holds no backward-weights primitive, operands or scratchpad.
  bool weights_by_gemm = false;
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_backward_weights::primitive_desc bwd_weights_pd;
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_data bwd_data;
  dnnl::convolution_backward_weights bwd_weights;
  // forward
  ConvOperand fwd_x, fwd_w, fwd_y;
  // backward data: dy in, w in, dx out
  ConvOperand bd_dy, bd_w, bd_dx;
  // backward weights: x in, dy in, dw out (the bias gradient is always plain)
  ConvOperand bw_x, bw_dy, bw_dw;
  dnnl::memory::desc bias;  // [c_out]
  size_t fwd_scratch = 0, bd_scratch = 0, bw_scratch = 0;  // scratchpad bytes

  // "forward jit:avx512_core, backward_data ..., backward_weights ..."
  std::string implementation() const;
};

// Creates the plan; throws an elbo::Error naming the shape when oneDNN cannot.
// Call onednn_use_one_thread() on this thread first.
std::unique_ptr<ConvPlan> make_conv_plan(const dnnl::engine& engine, const ConvShape& chunk, bool weights_by_gemm);

}  // namespace elbo
