// A layer's GEMMs in bfloat16 on the CPU (train.precision: bf16): the inputs are rounded
// to bf16 (to nearest, ties to even), the products accumulate in FP32 into FP32 outputs,
// and the weights, gradients and optimizer stay FP32. oneDNN's matmul runs them on AMX
// tiles (or AVX512-BF16), several times the FP32 rate on CPUs that have them.
//
// Like partitioned_gemm.h: each GEMM's C is cut into blocks of rows fixed by the shape
// alone, one single-threaded primitive per block on the backend's worker pool, so the
// bits never depend on the thread count. Rows only, and operands converted into dense
// buffers first: oneDNN's AMX kernels take only dense matrices (a leading dimension
// larger than the row falls back to a slower GEMM), and a block of whole rows keeps
// its slice of op(A), all of op(B) and its rows of C dense.
#pragma once
#include <memory>
#include <string>

#include "elbo/backend.h"
#include "worker_pool.h"

namespace elbo {

class Bf16Gemm {
 public:
  explicit Bf16Gemm(WorkerPool& pool);
  ~Bf16Gemm();
  Bf16Gemm(const Bf16Gemm&) = delete;
  Bf16Gemm& operator=(const Bf16Gemm&) = delete;

  // Runs the independent GEMMs gemms[0..count) (none reads what another writes).
  void run(const GemmArgs* gemms, int count);

  // "" when this CPU runs bf16 products in hardware; else why not (oneDNN would use its
  // reference code, tens of times slower than FP32).
  static std::string unsupported_reason();
  // The oneDNN implementation a GEMM of this shape gets ("brg:avx512_core_amx_bf16").
  std::string implementation(int m, int n, int k);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace elbo
