#include "elbo/train/validation.h"

#include <algorithm>

#include "elbo/error.h"
#include "elbo/kernels/philox.h"
#include "elbo/train/eval_batches.h"

namespace elbo {
namespace {
// Validation images get their own binarization and noise counters, apart from the
// training stream and from `elbo eval`'s.
constexpr uint64_t kValidSerial0 = 3ull << 61;
constexpr int kValidBatch = 100;
}  // namespace

ValidationResult validate(const Config& config, const MpiContext& mpi, Backend& be, VaeModel& model,
                          const ShardSetInfo& valid) {
  const int64_t n = config.train.valid_images > 0 ? std::min(config.train.valid_images, valid.count) : valid.count;
  const int64_t begin = n * mpi.rank() / mpi.world(), end = n * (mpi.rank() + 1) / mpi.world();
  EvalBatches batches(config, be, model, valid, "data.valid", kValidBatch, kValidSerial0);
  DeviceBuffer sums(&be, 2);
  double acc[3] = {0.0, 0.0, 0.0};
  for (int64_t first = begin; first < end; first += kValidBatch) {
    const int rows = int(std::min<int64_t>(kValidBatch, end - first));
    batches.load(first, rows, model);
    model.forward(be, batches.x(), rows, NoiseKey{config.run.seed, kRngEval, kValidSerial0 + uint64_t(first), 0},
                  VaeModel::Pass::kElbo);
    float part[2];
    be.sum(sums.data(), model.recon_per_row(), rows);
    be.sum(sums.data() + 1, model.kl_per_row(), rows);
    be.copy_to_host(part, sums.data(), 2);
    acc[0] += part[0];
    acc[1] += part[1];
    acc[2] += rows;
  }
  mpi.allreduce_sum(acc, 3);
  ValidationResult r;
  r.images = int64_t(acc[2]);
  r.recon = acc[0] / std::max(1.0, acc[2]);
  r.kl = acc[1] / std::max(1.0, acc[2]);
  return r;
}

}  // namespace elbo
