#include "elbo/train/validation.h"

#include <algorithm>
#include <vector>

#include "elbo/error.h"
#include "elbo/kernels/philox.h"

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
  const int dim = int(valid.sample_dim()), classes = model.condition_dim();
  std::vector<float> host_x(size_t(kValidBatch) * dim), host_cond(size_t(kValidBatch) * size_t(classes));
  std::vector<int32_t> labels(classes > 0 ? size_t(kValidBatch) : 0);
  DeviceBuffer x(&be, host_x.size()), cond(&be, std::max<size_t>(1, host_cond.size())), sums(&be, 2);
  double acc[3] = {0.0, 0.0, 0.0};
  for (int64_t first = begin; first < end; first += kValidBatch) {
    const int rows = int(std::min<int64_t>(kValidBatch, end - first));
    read_samples(valid, first, rows, config.data.scale, host_x.data(), classes > 0 ? labels.data() : nullptr);
    if (config.data.binarize == "threshold")
      for (size_t i = 0; i < size_t(rows) * dim; ++i) host_x[i] = host_x[i] > config.data.threshold ? 1.0f : 0.0f;
    be.copy_to_device(x.data(), host_x.data(), size_t(rows) * dim);
    if (config.data.binarize == "dynamic")
      be.binarize(x.data(), rows, dim, NoiseKey{config.run.seed, kRngBinarize, kValidSerial0 + uint64_t(first), 0});
    if (classes > 0) {
      std::fill(host_cond.begin(), host_cond.end(), 0.0f);
      for (int r = 0; r < rows; ++r) {
        const int32_t k = labels[size_t(r)];
        ELBO_CHECK(k >= 0 && k < classes, "validation sample " << first + r << " of " << config.data.valid
                                                               << " has label " << k << ", outside 0.." << classes - 1);
        host_cond[size_t(r) * size_t(classes) + size_t(k)] = 1.0f;
      }
      be.copy_to_device(cond.data(), host_cond.data(), size_t(rows) * size_t(classes));
      model.set_condition(cond.data());
    }
    model.forward(be, x.data(), rows, NoiseKey{config.run.seed, kRngEval, kValidSerial0 + uint64_t(first), 0});
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
