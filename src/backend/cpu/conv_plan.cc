#include "conv_plan.h"

#include "elbo/error.h"

namespace elbo {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr memory::data_type kF32 = memory::data_type::f32;
// Measured on one AVX-512 core, 28x28 inputs, 32 output channels: the direct kernel's
// backward data runs at 11, 21, 33, 43, 86 GFLOP/s for 1, 2, 3, 4, 8 input channels,
// the GEMM-based one at 41-44 throughout.
constexpr int kPlainBackwardDataBelowChannels = 4;

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

ConvOperand operand(const dnnl::engine& engine, const memory::desc& user, const memory::desc& chosen) {
  ConvOperand op;
  op.user = user;
  op.chosen = chosen;
  op.same = user == chosen;
  if (!op.same) {
    const dnnl::reorder::primitive_desc in(engine, user, engine, chosen, user_scratchpad());
    const dnnl::reorder::primitive_desc out(engine, chosen, engine, user, user_scratchpad());
    op.to_chosen = dnnl::reorder(in);
    op.to_user = dnnl::reorder(out);
    op.to_chosen_scratch = in.scratchpad_desc().get_size();
    op.to_user_scratch = out.scratchpad_desc().get_size();
  }
  return op;
}

tag user_activation_tag(int block) {
  switch (block) {
    case 1: return tag::nchw;
    case 8: return tag::nChw8c;
    case 16: return tag::nChw16c;
  }
  ELBO_FAIL("convolution: channel block " << block << " is not one of 1, 8, 16");
}

std::string describe(const ConvShape& s) {
  return "n=" + std::to_string(s.n) + " c_in=" + std::to_string(s.c_in) + " " + std::to_string(s.h) + "x" +
         std::to_string(s.w) + " c_out=" + std::to_string(s.c_out) + " kernel " + std::to_string(s.kh) + "x" +
         std::to_string(s.kw) + " stride " + std::to_string(s.stride) + " pad " + std::to_string(s.pad) +
         " channel blocks " + std::to_string(s.x_block) + "/" + std::to_string(s.y_block);
}

}  // namespace

std::string ConvPlan::implementation() const {
  return std::string("forward ") + fwd_pd.impl_info_str() + ", backward_data " + bwd_data_pd.impl_info_str() +
         ", backward_weights " + (weights_by_gemm ? std::string("im2col + sgemm") : bwd_weights_pd.impl_info_str());
}

std::unique_ptr<ConvPlan> make_conv_plan(const dnnl::engine& engine, const ConvShape& s, bool weights_by_gemm) {
  auto plan = std::make_unique<ConvPlan>();
  ConvPlan& p = *plan;
  p.shape = s;
  p.weights_by_gemm = weights_by_gemm;
  const memory::dims x_dims{s.n, s.c_in, s.h, s.w}, w_dims{s.c_out, s.c_in, s.kh, s.kw}, b_dims{s.c_out},
      y_dims{s.n, s.c_out, s.out_h(), s.out_w()}, strides{s.stride, s.stride}, pad{s.pad, s.pad};
  // The user's tensors: weights OIHW; activations NCHW or channel-blocked (ConvShape).
  const memory::desc x_user(x_dims, kF32, user_activation_tag(s.x_block)), w_plain(w_dims, kF32, tag::oihw),
      y_user(y_dims, kF32, user_activation_tag(s.y_block));
  const memory::desc x_any(x_dims, kF32, tag::any), w_any(w_dims, kF32, tag::any), y_any(y_dims, kF32, tag::any);
  const memory::desc x_nchw(x_dims, kF32, tag::nchw), y_nchw(y_dims, kF32, tag::nchw);
  p.bias = memory::desc(b_dims, kF32, tag::x);
  try {
    const dnnl::primitive_attr attr = user_scratchpad();
    // Direct convolution: Winograd (convolution_auto may pick it) rounds differently
    // from the reference arithmetic and loses accuracy in float32.
    const auto algo = dnnl::algorithm::convolution_direct;
    p.fwd_pd = dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, x_any, w_any, p.bias, y_any, strides,
                                        pad, pad),
        attr, engine);
    // Backward data into few channels: the direct JIT kernel pads the channels to a whole
    // vector (16 floats with AVX-512) and runs at c_in/16 of its speed (11 GFLOP/s for one
    // channel), the im2col+GEMM kernel that plain layouts select at 40-70 GFLOP/s. (A
    // transposed convolution's forward pass is this op, e.g. a decoder's last layer.)
    // (A blocked dy is then reordered to NCHW for it, as the operands below do.)
    const bool plain_bwd_data = s.c_in < kPlainBackwardDataBelowChannels;
    p.bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(
        dnnl::convolution_backward_data::desc(algo, plain_bwd_data ? x_nchw : x_any, plain_bwd_data ? w_plain : w_any,
                                              plain_bwd_data ? y_nchw : y_any, strides, pad, pad),
        attr, engine, p.fwd_pd);
    p.fwd = dnnl::convolution_forward(p.fwd_pd);
    p.bwd_data = dnnl::convolution_backward_data(p.bwd_data_pd);
    p.fwd_x = operand(engine, x_user, p.fwd_pd.src_desc());
    p.fwd_w = operand(engine, w_plain, p.fwd_pd.weights_desc());
    p.fwd_y = operand(engine, y_user, p.fwd_pd.dst_desc());
    p.bd_dy = operand(engine, y_user, p.bwd_data_pd.diff_dst_desc());
    p.bd_w = operand(engine, w_plain, p.bwd_data_pd.weights_desc());
    p.bd_dx = operand(engine, x_user, p.bwd_data_pd.diff_src_desc());
    ELBO_CHECK(p.fwd_pd.bias_desc() == p.bias, "oneDNN chose a blocked layout for a convolution's bias");
    p.fwd_scratch = p.fwd_pd.scratchpad_desc().get_size();
    p.bd_scratch = p.bwd_data_pd.scratchpad_desc().get_size();
    if (!weights_by_gemm) {
      p.bwd_weights_pd = dnnl::convolution_backward_weights::primitive_desc(
          dnnl::convolution_backward_weights::desc(algo, x_any, w_any, p.bias, y_any, strides, pad, pad), attr, engine,
          p.fwd_pd);
      p.bwd_weights = dnnl::convolution_backward_weights(p.bwd_weights_pd);
      p.bw_x = operand(engine, x_user, p.bwd_weights_pd.src_desc());
      p.bw_dy = operand(engine, y_user, p.bwd_weights_pd.diff_dst_desc());
      p.bw_dw = operand(engine, w_plain, p.bwd_weights_pd.diff_weights_desc());
      ELBO_CHECK(p.bwd_weights_pd.diff_bias_desc() == p.bias,
                 "oneDNN chose a blocked layout for a convolution's bias gradient");
      p.bw_scratch = p.bwd_weights_pd.scratchpad_desc().get_size();
    }
  } catch (const dnnl::error& e) {
    ELBO_FAIL("oneDNN cannot build a convolution for " << describe(s) << ": " << e.what());
  }
  return plan;
}

}  // namespace elbo
