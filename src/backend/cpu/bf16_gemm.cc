#include "bf16_gemm.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "aligned_bytes.h"
#include "elbo/error.h"
#include "onednn_runtime.h"

namespace elbo {
namespace {

using dnnl::memory;

// A block does at least this many multiply-adds (about 15 µs on one AMX core, which
// runs bf16 products about six times as fast as FP32 ones on AVX-512): waking a worker
// and taking a block cost a few microseconds.
constexpr double kMinMacsPerBlock = 1 << 23;
// Block edges fall on multiples of 32 rows (two AMX tiles of 16 rows).
constexpr int kRowAlign = 32;

// One primitive for a block shape with its coefficients.
struct PlanKey {
  int rows, n, k;
  bool trans_b;
  float alpha, beta;
  bool operator<(const PlanKey& o) const {
    return std::tie(rows, n, k, trans_b, alpha, beta) < std::tie(o.rows, o.n, o.k, o.trans_b, o.alpha, o.beta);
  }
};

struct Plan {
  dnnl::matmul prim;
  size_t scratch_bytes = 0;
  std::string implementation;
};

// The rounding of a rows x cols float matrix, stored row-major or (transposed) column-
// major, into dense bf16 rows: a oneDNN reorder (JIT code, AVX-512 where there is some;
// a plain loop is 8 times slower, and 4 times for the transpose). Rounds to nearest, ties
// to even, as the tensor cores do.
struct ConvertKey {
  int rows, cols;
  bool transposed;
  bool operator<(const ConvertKey& o) const {
    return std::tie(rows, cols, transposed) < std::tie(o.rows, o.cols, o.transposed);
  }
};

struct Conversion {
  memory::desc from, to;
  dnnl::reorder prim;
};

std::unique_ptr<Conversion> make_conversion(const dnnl::engine& engine, const ConvertKey& key) {
  auto c = std::make_unique<Conversion>();
  c->from = memory::desc({key.rows, key.cols}, memory::data_type::f32,
                         key.transposed ? memory::dims{1, key.rows} : memory::dims{key.cols, 1});
  c->to = memory::desc({key.rows, key.cols}, memory::data_type::bf16, memory::dims{key.cols, 1});
  c->prim = dnnl::reorder(dnnl::reorder::primitive_desc(engine, c->from, engine, c->to));
  return c;
}

// A thread's stream (streams are not thread-safe) and scratchpad.
struct Workspace {
  explicit Workspace(const dnnl::engine& engine) : stream(engine) {}
  dnnl::stream stream;
  AlignedBytes scratch;
};

// One GEMM's operands in bf16: op(A) as dense rows (m x k), B as stored (dense either way).
struct Converted {
  AlignedBytes a, b;
};

// Rows [begin, end) of one GEMM's C.
struct Block {
  int gemm;
  int begin, end;
  const Plan* plan;
};

std::unique_ptr<Plan> make_plan(const dnnl::engine& engine, const PlanKey& key) {
  const memory::desc a({key.rows, key.k}, memory::data_type::bf16, memory::dims{key.k, 1});
  const memory::desc b({key.k, key.n}, memory::data_type::bf16,
                       key.trans_b ? memory::dims{1, key.k} : memory::dims{key.n, 1});
  const memory::desc c({key.rows, key.n}, memory::data_type::f32, memory::dims{key.n, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // each thread brings its own
  if (key.alpha != 1.0f) attr.set_output_scales(0, {key.alpha});
  if (key.beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(key.beta);  // C = alpha * op(A) op(B) + beta * C
    attr.set_post_ops(ops);
  }
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, engine);
  auto plan = std::make_unique<Plan>();
  plan->prim = dnnl::matmul(pd);
  plan->scratch_bytes = pd.scratchpad_desc().get_size();
  plan->implementation = pd.impl_info_str();
  return plan;
}

// Rows of C per block for an m x n x k product: as many blocks as the minimum work
// allows, of equal heights rounded up to the alignment. Depends on the shape alone.
int block_rows(int m, int n, int k) {
  const double row_macs = double(n) * std::max(k, 1);
  const double min_rows = std::max(double(kRowAlign), std::ceil(kMinMacsPerBlock / row_macs));
  const int count = std::max(1, int(double(m) / min_rows));
  return ((m + count - 1) / count + kRowAlign - 1) / kRowAlign * kRowAlign;
}

}  // namespace

struct Bf16Gemm::Impl {
  explicit Impl(WorkerPool& p) : pool(p) {
    for (int t = 0; t < pool.threads(); ++t) workspaces.push_back(std::make_unique<Workspace>(engine));
  }

  const Plan& plan(const PlanKey& key) {
    std::unique_ptr<Plan>& slot = plans[key];
    if (!slot) slot = make_plan(engine, key);
    return *slot;
  }

  // Rounds a rows x cols matrix (column-major when transposed) into dense bf16 rows.
  void round_to_bf16(const float* from, int rows, int cols, bool transposed, AlignedBytes& to) {
    std::unique_ptr<Conversion>& slot = conversions[ConvertKey{rows, cols, transposed}];
    if (!slot) slot = make_conversion(engine, ConvertKey{rows, cols, transposed});
    void* out = to.get(size_t(rows) * cols * sizeof(uint16_t));
    Workspace& ws = *workspaces[0];
    memory src(slot->from, engine, const_cast<float*>(from)), dst(slot->to, engine, out);
    slot->prim.execute(ws.stream, src, dst);
    ws.stream.wait();
  }

  // op(A) into dense bf16 rows (m x k), B as stored (k x n, or n x k when transposed:
  // dense either way, and the matmul reads it so).
  void convert(const GemmArgs& g, Converted& out) {
    round_to_bf16(g.a, g.m, g.k, g.trans_a, out.a);
    if (g.trans_b) round_to_bf16(g.b, g.n, g.k, false, out.b);
    else round_to_bf16(g.b, g.k, g.n, false, out.b);
  }

  void run_block(const GemmArgs& g, const Converted& ops, const Block& blk, Workspace& ws) {
    const int rows = blk.end - blk.begin;
    const Plan& p = *blk.plan;
    const memory::desc a({rows, g.k}, memory::data_type::bf16, memory::dims{g.k, 1});
    const memory::desc b({g.k, g.n}, memory::data_type::bf16, g.trans_b ? memory::dims{1, g.k} : memory::dims{g.n, 1});
    const memory::desc c({rows, g.n}, memory::data_type::f32, memory::dims{g.n, 1});
    uint16_t* a_rows = static_cast<uint16_t*>(ops.a.data()) + size_t(blk.begin) * g.k;
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, memory(a, engine, a_rows)},
        {DNNL_ARG_WEIGHTS, memory(b, engine, ops.b.data())},
        {DNNL_ARG_DST, memory(c, engine, g.c + size_t(blk.begin) * g.n)}};
    if (p.scratch_bytes) {
      const memory::desc bytes({memory::dim(p.scratch_bytes)}, memory::data_type::u8, memory::format_tag::x);
      args.emplace(DNNL_ARG_SCRATCHPAD, memory(bytes, engine, ws.scratch.get(p.scratch_bytes)));
    }
    p.prim.execute(ws.stream, args);
    ws.stream.wait();
  }

  WorkerPool& pool;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  std::map<PlanKey, std::unique_ptr<Plan>> plans;
  std::map<ConvertKey, std::unique_ptr<Conversion>> conversions;
  std::vector<std::unique_ptr<Workspace>> workspaces;  // one per thread of the pool
  std::vector<Converted> converted;                    // one per GEMM of a call
};

Bf16Gemm::Bf16Gemm(WorkerPool& pool) : impl_(std::make_unique<Impl>(pool)) {}
Bf16Gemm::~Bf16Gemm() = default;

void Bf16Gemm::run(const GemmArgs* gemms, int count) {
  onednn_use_one_thread();
  Impl& m = *impl_;
  if (int(m.converted.size()) < count) m.converted.resize(size_t(count));
  std::vector<Block> blocks;
  for (int i = 0; i < count; ++i) {
    const GemmArgs& g = gemms[i];
    ELBO_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0, "gemm with a negative size: m=" << g.m << " n=" << g.n
                                                                                 << " k=" << g.k);
    if (g.m == 0 || g.n == 0) continue;
    if (g.k == 0) {  // C = beta * C, not reading C when beta is 0 (as BLAS)
      for (size_t e = 0; e < size_t(g.m) * g.n; ++e) g.c[e] = g.beta == 0.0f ? 0.0f : g.beta * g.c[e];
      continue;
    }
    m.convert(g, m.converted[size_t(i)]);
    // Plans are made here, where a failure can throw; the blocks only run them.
    const int height = block_rows(g.m, g.n, g.k);
    for (int begin = 0; begin < g.m; begin += height) {
      const int end = std::min(g.m, begin + height);
      const Plan& p = m.plan(PlanKey{end - begin, g.n, g.k, g.trans_b, g.alpha, g.beta});
      blocks.push_back(Block{i, begin, end, &p});
    }
  }
  auto run_one = [&](const Block& blk, Workspace& ws) {
    try {
      m.run_block(gemms[blk.gemm], m.converted[size_t(blk.gemm)], blk, ws);
    } catch (const dnnl::error& e) {
      // Arguments were checked and the primitive created on the calling thread; a
      // worker cannot throw, so a failure here is a bug to stop at.
      std::fprintf(stderr, "elbo: bf16 matmul of rows %d..%d failed: %s\n", blk.begin, blk.end, e.what());
      std::abort();
    }
  };
  // Scratchpads sized here, where running out of memory can throw, not on a worker.
  size_t scratch = 0;
  for (const Block& blk : blocks) scratch = std::max(scratch, blk.plan->scratch_bytes);
  if (scratch)
    for (auto& ws : m.workspaces) ws->scratch.get(scratch);
  const size_t parts = std::min(blocks.size(), size_t(m.pool.threads()));
  if (parts <= 1) {
    for (const Block& blk : blocks) run_one(blk, *m.workspaces[0]);
    return;
  }
  std::atomic<size_t> next{0};
  m.pool.parallel_for(parts, 1, [&](size_t part, size_t) {
    onednn_use_one_thread();
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < blocks.size();)
      run_one(blocks[i], *m.workspaces[part]);
  });
}

std::string Bf16Gemm::implementation(int m, int n, int k) {
  onednn_use_one_thread();
  const int rows = std::min(m, block_rows(m, n, k));
  return impl_->plan(PlanKey{rows, n, k, false, 1.0f, 0.0f}).implementation;
}

std::string Bf16Gemm::unsupported_reason() {
  static const std::string reason = [] {
    onednn_use_one_thread();
    try {
      const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
      // The instruction set, not whether some kernel exists: on AVX-512 without bf16
      // instructions oneDNN emulates bf16 (a jit GEMM slower than FP32), without AVX-512
      // it runs reference code.
      const unsigned isa = unsigned(dnnl_get_effective_cpu_isa());
      const unsigned bf16 = unsigned(dnnl_cpu_isa_avx512_core_bf16);
      const std::string impl = make_plan(engine, PlanKey{64, 64, 64, false, 1.0f, 0.0f})->implementation;
      if ((isa & bf16) == bf16 && impl.find("ref") == std::string::npos) return std::string();
      return "this CPU has neither AMX nor AVX512-BF16 (" + cpu_compute_library_info() +
             "): oneDNN would emulate bf16 products (" + impl + "), slower than FP32";
    } catch (const dnnl::error& e) {
      return std::string("oneDNN cannot make a bf16 matmul here: ") + e.what();
    }
  }();
  return reason;
}

}  // namespace elbo
