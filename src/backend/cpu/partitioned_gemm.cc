#include "partitioned_gemm.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "elbo/error.h"
#include "onednn_runtime.h"

namespace elbo {
namespace {

// A block does at least this many multiply-adds (about 15 µs on one AVX-512 core):
// waking a worker and taking a block cost a few microseconds.
constexpr double kMinMacsPerBlock = 1 << 21;
// and spans at least this many rows or columns: oneDNN repacks the uncut operand for
// every block. On the MLP's shapes (one core, AVX-512), blocks of at least 128 cost 3%
// against one call for the whole C, blocks of 64 (with a narrow last one) 9%.
constexpr int kMinBlockExtent = 128;
// Block edges fall on multiples of 16 rows or columns (the AVX-512 register tile).
constexpr int kBlockAlign = 16;

// Rows or columns [begin, end) of one GEMM's C.
struct Block {
  const GemmArgs* gemm;
  bool columns;
  int begin, end;
};

void run_block(const Block& blk) {
  const GemmArgs& g = *blk.gemm;
  const int lda = std::max(1, g.trans_a ? g.m : g.k), ldb = std::max(1, g.trans_b ? g.k : g.n),
            ldc = std::max(1, g.n);
  const int len = blk.end - blk.begin;
  const float* a = g.a;
  const float* b = g.b;
  float* c = g.c;
  int m = g.m, n = g.n;
  if (blk.columns) {
    // Columns of C use the same columns of op(B): rows of B when B is transposed (n×k),
    // columns of B otherwise (k×n).
    b += g.trans_b ? size_t(blk.begin) * ldb : size_t(blk.begin);
    c += blk.begin;
    n = len;
  } else {
    // Rows of C use the same rows of op(A): columns of A when A is transposed (k×m),
    // rows of A otherwise (m×k).
    a += g.trans_a ? size_t(blk.begin) : size_t(blk.begin) * lda;
    c += size_t(blk.begin) * ldc;
    m = len;
  }
  if (g.k == 0) {  // oneDNN rejects k = 0; BLAS defines C = beta * C, not reading C when beta is 0
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        float& e = c[size_t(i) * ldc + j];
        e = g.beta == 0.0f ? 0.0f : g.beta * e;
      }
    return;
  }
  onednn_use_one_thread();
  const dnnl_status_t st = dnnl_sgemm(g.trans_a ? 'T' : 'N', g.trans_b ? 'T' : 'N', m, n, g.k, g.alpha, a, lda, b,
                                      ldb, g.beta, c, ldc);
  // Only invalid arguments fail, which the checks in partitioned_sgemm rule out; a
  // worker thread cannot throw, so a failure here is a bug to stop at.
  if (st != dnnl_success) {
    std::fprintf(stderr, "elbo: dnnl_sgemm(m=%d n=%d k=%d lda=%d ldb=%d ldc=%d) failed: status %d\n", m, n, g.k, lda,
                 ldb, ldc, int(st));
    std::abort();
  }
}

// Appends the blocks of g: C's columns when it has at least as many columns as rows
// (every block then packs all of op(A), m×k), rows otherwise, in blocks of a width
// fixed by the shape. An empty C gets no block (oneDNN rejects empty matrices).
void append_blocks(const GemmArgs& g, std::vector<Block>& out) {
  if (g.m == 0 || g.n == 0) return;
  const bool columns = g.n >= g.m;
  const int extent = columns ? g.n : g.m, across = columns ? g.m : g.n;
  const double line_macs = double(across) * std::max(g.k, 1);
  const double min_extent = std::max(double(kMinBlockExtent), std::ceil(kMinMacsPerBlock / line_macs));
  // As many blocks as fit the minimum, of equal widths rounded up to the tile: no
  // narrow block at the end.
  const int count = std::max(1, int(double(extent) / min_extent));
  const int block = ((extent + count - 1) / count + kBlockAlign - 1) / kBlockAlign * kBlockAlign;
  for (int begin = 0; begin < extent; begin += block)
    out.push_back(Block{&g, columns, begin, std::min(extent, begin + block)});
}

}  // namespace

void partitioned_sgemm(WorkerPool& pool, const GemmArgs* gemms, int count) {
  onednn_use_one_thread();  // here, where a failure can throw (not on a worker)
  std::vector<Block> blocks;
  for (int i = 0; i < count; ++i) {
    const GemmArgs& g = gemms[i];
    ELBO_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0, "gemm with a negative size: m=" << g.m << " n=" << g.n
                                                                                 << " k=" << g.k);
    append_blocks(g, blocks);
  }
  const size_t parts = std::min(blocks.size(), size_t(pool.threads()));
  if (parts <= 1) {
    for (const Block& blk : blocks) run_block(blk);
    return;
  }
  // One part per thread; each takes the next block until none is left, so a thread
  // that was descheduled does less rather than holding up the others.
  std::atomic<size_t> next{0};
  pool.parallel_for(parts, 1, [&](size_t, size_t) {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < blocks.size();) run_block(blocks[i]);
  });
}

}  // namespace elbo
