// Error checks for the CUDA runtime and cuBLAS. A failed call throws elbo::Error
// naming the call, the source line and the library's own error string, so a
// failure on a remote GPU node is diagnosable from the log alone.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "elbo/error.h"

// CUDA_CHECK(cudaMemcpyAsync(...)): throws elbo::Error("CUDA error at file:line in <call>: <name>: <string>").
#define CUDA_CHECK(call)                                                                        \
  do {                                                                                          \
    cudaError_t elbo_cuda_err_ = (call);                                                        \
    if (elbo_cuda_err_ != cudaSuccess) {                                                        \
      (void)cudaGetLastError(); /* a non-sticky error must not resurface at the next check */   \
      ELBO_FAIL("CUDA error at " << __FILE__ << ":" << __LINE__ << " in " << #call << ": "      \
                                 << cudaGetErrorName(elbo_cuda_err_) << ": "                    \
                                 << cudaGetErrorString(elbo_cuda_err_));                        \
    }                                                                                           \
  } while (0)

#define CUBLAS_CHECK(call)                                                                      \
  do {                                                                                          \
    cublasStatus_t elbo_cublas_st_ = (call);                                                    \
    if (elbo_cublas_st_ != CUBLAS_STATUS_SUCCESS) {                                             \
      ELBO_FAIL("cuBLAS error at " << __FILE__ << ":" << __LINE__ << " in " << #call << ": "    \
                                   << cublasGetStatusName(elbo_cublas_st_) << ": "              \
                                   << cublasGetStatusString(elbo_cublas_st_));                  \
    }                                                                                           \
  } while (0)

// After a kernel launch: reports a bad launch configuration at the launch site
// (errors of the running kernel surface at the next synchronising call).
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
