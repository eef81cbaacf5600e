// Batches of held-out images (the test set for `elbo eval`, the validation set during
// training) as the model reads them: read from the shards, binarized like the training
// data (a threshold on the host; dynamically with a fixed noise key per image, so every
// evaluation of an image sees the same pixels), and, for conditional models, each
// image's one-hot class. Both live in device buffers of up to max_rows rows.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/data/shard_set.h"
#include "elbo/models/vae_model.h"

namespace elbo {

class EvalBatches {
 public:
  // key names the set in messages ("data.test"); binarize_serial0 separates the
  // binarization noise of this use from the others'.
  EvalBatches(const Config& config, Backend& be, const VaeModel& model, const ShardSetInfo& set, const char* key,
              int max_rows, uint64_t binarize_serial0);

  // Images [first, first + rows) of the set into x(), and their classes into the
  // conditions, which are then given to `model` (set_condition).
  void load(int64_t first, int rows, VaeModel& model);
  float* x() { return x_.data(); }
  // The label of loaded row `row` when the set has labels (any model), else -1.
  int32_t label(int row) const { return labels_.empty() ? -1 : labels_[size_t(row)]; }
  // Conditional models: the one-hot class of loaded row `row` onward (null otherwise).
  const float* condition(int row) const {
    return classes_ > 0 ? cond_.data() + size_t(row) * size_t(classes_) : nullptr;
  }

 private:
  const Config& config_;
  Backend& be_;
  const ShardSetInfo& set_;
  std::string key_;
  int dim_, classes_;
  uint64_t serial0_;
  std::vector<float> host_x_, host_cond_;
  std::vector<int32_t> labels_;
  DeviceBuffer x_, cond_;
};

}  // namespace elbo
