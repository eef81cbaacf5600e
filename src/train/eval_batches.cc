#include "elbo/train/eval_batches.h"

#include <algorithm>

#include "elbo/error.h"
#include "elbo/kernels/philox.h"

namespace elbo {

EvalBatches::EvalBatches(const Config& config, Backend& be, const VaeModel& model, const ShardSetInfo& set,
                         const char* key, int max_rows, uint64_t binarize_serial0)
    : config_(config),
      be_(be),
      set_(set),
      key_(key),
      dim_(int(set.sample_dim())),
      classes_(model.condition_dim()),
      serial0_(binarize_serial0),
      host_x_(size_t(max_rows) * size_t(dim_)),
      host_cond_(size_t(max_rows) * size_t(classes_)),
      labels_(set.has_labels ? size_t(max_rows) : 0),
      x_(&be, host_x_.size()),
      cond_(&be, std::max<size_t>(1, host_cond_.size())) {
  ELBO_CHECK(classes_ == 0 || set.has_labels, "model.conditional: " << key_ << " " << set.manifest_path
                                                                      << " holds no labels (convert it with elbo "
                                                                         "data convert --labels)");
  if (classes_ > 0) check_label_range(set, classes_, key_);  // before the first batch, not at the bad one
}

void EvalBatches::load(int64_t first, int rows, VaeModel& model) {
  read_samples(set_, first, rows, config_.data.scale, host_x_.data(), set_.has_labels ? labels_.data() : nullptr);
  if (config_.data.binarize == "threshold")
    for (size_t i = 0; i < size_t(rows) * size_t(dim_); ++i)
      host_x_[i] = host_x_[i] > config_.data.threshold ? 1.0f : 0.0f;
  be_.copy_to_device(x_.data(), host_x_.data(), size_t(rows) * size_t(dim_));
  if (config_.data.binarize == "dynamic")
    be_.binarize(x_.data(), rows, dim_, NoiseKey{config_.run.seed, kRngBinarize, serial0_ + uint64_t(first), 0});
  if (classes_ == 0) return;
  std::fill(host_cond_.begin(), host_cond_.end(), 0.0f);
  for (int r = 0; r < rows; ++r) {
    const int32_t label = labels_[size_t(r)];
    ELBO_CHECK(label >= 0 && label < classes_, "sample " << first + r << " of " << key_ << " " << set_.manifest_path
                                                         << " has label " << label << ", outside 0.." << classes_ - 1
                                                         << " (model.classes)");
    host_cond_[size_t(r) * size_t(classes_) + size_t(label)] = 1.0f;
  }
  be_.copy_to_device(cond_.data(), host_cond_.data(), size_t(rows) * size_t(classes_));
  model.set_condition(cond_.data());
}

}  // namespace elbo
