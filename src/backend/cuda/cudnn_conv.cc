#if defined(ELBO_WITH_CUDNN)
#include "cudnn_conv.h"

#include <utility>

#include "cuda_check.h"

#define CUDNN_CHECK(call)                                                                          \
  do {                                                                                             \
    cudnnStatus_t elbo_cudnn_st_ = (call);                                                         \
    if (elbo_cudnn_st_ != CUDNN_STATUS_SUCCESS)                                                    \
      ELBO_FAIL("cuDNN error at " << __FILE__ << ":" << __LINE__ << " in " << #call << ": "        \
                                  << cudnnGetErrorString(elbo_cudnn_st_));                         \
  } while (0)

namespace elbo {
namespace {

constexpr cudnnConvolutionFwdAlgo_t kForwardAlgo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
constexpr cudnnConvolutionBwdDataAlgo_t kBackwardDataAlgo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
constexpr cudnnConvolutionBwdFilterAlgo_t kBackwardFilterAlgo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;

}  // namespace

// The descriptors of one shape: NCHW float tensors, OIHW filter, cross-correlation.
struct CudnnConv::Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  Descriptors(const ConvShape& s, cudnnMathType_t math) {
    try {
      CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
      CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
      CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias));
      CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
      CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
      CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.n, s.c_in, s.h, s.w));
      CUDNN_CHECK(
          cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.n, s.c_out, s.out_h(), s.out_w()));
      CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, s.c_out, 1, 1));
      CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s.c_out, s.c_in, s.kh, s.kw));
      CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, s.pad, s.pad, s.stride, s.stride, 1, 1,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
      CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math));
    } catch (...) {
      destroy();
      throw;
    }
  }
  ~Descriptors() { destroy(); }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;

  void destroy() noexcept {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
  }
};

CudnnConv::CudnnConv(cudaStream_t stream, bool allow_tensor_ops, std::string owner, Allocate allocate, Release release)
    : stream_(stream),
      math_(allow_tensor_ops ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
      owner_(std::move(owner)),
      allocate_(std::move(allocate)),
      release_(std::move(release)) {
  CUDNN_CHECK(cudnnCreate(&handle_));
  const cudnnStatus_t st = cudnnSetStream(handle_, stream_);
  if (st != CUDNN_STATUS_SUCCESS) {
    cudnnDestroy(handle_);
    ELBO_FAIL(owner_ << ": cudnnSetStream failed: " << cudnnGetErrorString(st));
  }
}

CudnnConv::~CudnnConv() {
  // Never throws; errors (a device already in an error state) are ignored. The backend
  // destroys this before its stream, so the stream-ordered release still has one.
  if (workspace_) release_(workspace_);
  if (handle_) cudnnDestroy(handle_);
  cudaGetLastError();
}

void* CudnnConv::workspace(size_t bytes) {
  if (bytes <= workspace_bytes_) return workspace_;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  CUDA_CHECK(cudaStreamIsCapturing(stream_, &capture));
  ELBO_CHECK(capture == cudaStreamCaptureStatusNone,
             owner_ << ": a convolution needs " << bytes << " bytes of cuDNN workspace while a CUDA graph is being "
                    << "captured (run each convolution shape once before capturing)");
  // The new one first: if it cannot be had, the old one stays, whole and in use.
  float* grown = allocate_((bytes + sizeof(float) - 1) / sizeof(float));
  // Released in stream order: work already queued that uses the old workspace finishes first.
  if (workspace_) release_(workspace_);
  workspace_ = grown;
  workspace_bytes_ = bytes;
  return workspace_;
}

// This backend's channel_block() is 0: graphs hand it NCHW tensors only.
static void check_plain_conv(const ConvShape& s, const char* op) {
  check_conv_shape(s, op);
  ELBO_CHECK(s.x_block == 1 && s.y_block == 1, op << ": the CUDA backend's convolutions take NCHW tensors, got channel "
                                                     "blocks " << s.x_block << "/" << s.y_block);
}

void CudnnConv::forward(float* y, const float* x, const float* w, const float* bias, const ConvShape& s) {
  check_plain_conv(s, "conv2d_forward");
  if (s.n == 0) return;
  const Descriptors d(s, math_);
  size_t bytes = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle_, d.x, d.w, d.conv, d.y, kForwardAlgo, &bytes));
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnConvolutionForward(handle_, &one, d.x, x, d.w, w, d.conv, kForwardAlgo, workspace(bytes), bytes,
                                      &zero, d.y, y));
  if (bias) CUDNN_CHECK(cudnnAddTensor(handle_, &one, d.bias, bias, &one, d.y, y));
}

void CudnnConv::backward_data(float* dx, const float* dy, const float* w, const ConvShape& s, float beta) {
  check_plain_conv(s, "conv2d_backward_data");
  if (s.n == 0) return;
  const Descriptors d(s, math_);
  size_t bytes = 0;
  CUDNN_CHECK(
      cudnnGetConvolutionBackwardDataWorkspaceSize(handle_, d.w, d.y, d.conv, d.x, kBackwardDataAlgo, &bytes));
  const float one = 1.0f;
  // cuDNN does not read dx when beta is 0.
  CUDNN_CHECK(cudnnConvolutionBackwardData(handle_, &one, d.w, w, d.y, dy, d.conv, kBackwardDataAlgo,
                                           workspace(bytes), bytes, &beta, d.x, dx));
}

void CudnnConv::backward_weights(float* dw, float* db, const float* dy, const float* x, const ConvShape& s) {
  check_plain_conv(s, "conv2d_backward_weights");
  if (s.n == 0) return;
  const Descriptors d(s, math_);
  size_t bytes = 0;
  CUDNN_CHECK(
      cudnnGetConvolutionBackwardFilterWorkspaceSize(handle_, d.x, d.y, d.conv, d.w, kBackwardFilterAlgo, &bytes));
  const float one = 1.0f;
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle_, &one, d.x, x, d.y, dy, d.conv, kBackwardFilterAlgo,
                                             workspace(bytes), bytes, &one, d.w, dw));
  if (db) CUDNN_CHECK(cudnnConvolutionBackwardBias(handle_, &one, d.y, dy, &one, d.bias, db));
}

std::string CudnnConv::implementation() const {
  return "cuDNN " + std::to_string(cudnnGetVersion()) +
         ": forward IMPLICIT_PRECOMP_GEMM, backward_data ALGO_1, backward_weights ALGO_1 (deterministic), " +
         (math_ == CUDNN_FMA_MATH ? "FP32 FMA math" : "TF32 tensor-op math allowed");
}

}  // namespace elbo
#endif  // ELBO_WITH_CUDNN
