#include "partitioned_gemm.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

namespace elbo {
namespace {

// Below this many multiply-adds a block is not worth a thread of its own: waking a
// worker costs a few microseconds, about what 1M multiply-adds take on one core.
constexpr double kMinMacsPerPart = 1 << 20;
// Block edges fall on multiples of this many rows or columns, so every block but the
// last fills OpenBLAS's register tiles (16 floats wide with AVX-512).
constexpr int kBlockAlign = 16;

// Rows or columns [begin, end) of one GEMM's C.
struct Block {
  const GemmArgs* gemm;
  bool columns;
  int begin, end;
};

double macs(const GemmArgs& g) { return double(g.m) * g.n * std::max(g.k, 1); }

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
  cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans, g.trans_b ? CblasTrans : CblasNoTrans, m, n, g.k,
              g.alpha, a, lda, b, ldb, g.beta, c, ldc);
}

// Appends up to `parts` aligned blocks of g. Cutting C's columns makes every block pack
// all of op(A) (m×k), cutting rows all of op(B) (k×n): cut the side that repeats less.
void append_blocks(const GemmArgs& g, int parts, std::vector<Block>& out) {
  const bool columns = g.n >= g.m;
  const int extent = columns ? g.n : g.m;
  const int tiles = (extent + kBlockAlign - 1) / kBlockAlign;
  parts = std::max(1, std::min({parts, tiles, int(macs(g) / kMinMacsPerPart)}));
  const int block = (tiles + parts - 1) / parts * kBlockAlign;
  // An empty C (extent 0) has nothing to compute and gets no block.
  for (int begin = 0; begin < extent; begin += block)
    out.push_back(Block{&g, columns, begin, std::min(extent, begin + block)});
}

}  // namespace

void partitioned_sgemm(WorkerPool& pool, const GemmArgs* gemms, int count) {
  // Threads per GEMM: an equal share (GEMMs paired by the caller have equal sizes),
  // and all of them for a GEMM alone.
  const int threads = pool.threads();
  std::vector<Block> blocks;
  blocks.reserve(size_t(threads) + size_t(count));
  if (count > threads) {
    for (int i = 0; i < count; ++i) append_blocks(gemms[i], 1, blocks);
  } else {
    for (int i = 0; i < count; ++i) append_blocks(gemms[i], threads / count + (i < threads % count ? 1 : 0), blocks);
  }
  if (blocks.size() == 1) {
    run_block(blocks[0]);
    return;
  }
  pool.parallel_for(blocks.size(), 1, [&](size_t b0, size_t b1) {
    for (size_t i = b0; i < b1; ++i) run_block(blocks[i]);
  });
}

}  // namespace elbo
