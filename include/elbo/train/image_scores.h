// Per-image scores of held-out images, computed the one way `elbo eval` computes them,
// so that per-image results (`elbo score`, `elbo encode`) average to its numbers:
//   each image's one fixed binarization (EvalBatches with the test-set serials), the
//   single-sample ELBO's noise keyed by the image's index in the set, and importance
//   samples keyed by index * k + t in another part of the eval stream.
// None of it depends on the batch size or the number of ranks.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/data/shard_set.h"
#include "elbo/models/vae_model.h"
#include "elbo/train/eval_batches.h"

namespace elbo {

class ImageScorer {
 public:
  // key names the set in messages ("data.test", "--data"); batch: the most images of one
  // score() call; k: importance samples per image (0: none); decoded at once: up to
  // config.eval.iw_chunk samples.
  // group_means: hierarchical models also get each group's posterior mean (group_mu).
  ImageScorer(const Config& config, Backend& be, VaeModel& model, const ShardSetInfo& set, const char* key, int batch,
              int k, bool group_means = false);

  // Images [first, first + rows) of the set, rows <= batch. images_done(i) is called
  // when the first i of them are done (after each group of importance samples).
  void score(int64_t first, int rows, const std::function<void(int)>& images_done = {});

  // Per row of the last score(), on the host:
  float recon(int row) const { return recon_[size_t(row)]; }  // -log p(x|z), one sample
  float kl(int row) const { return kl_[size_t(row)]; }        // KL(q(z|x) || p(z))
  // Hierarchical models: group l's KL (0 = top); the groups' sum is kl(row).
  int kl_groups() const { return groups_; }
  float group_kl(int row, int group) const { return group_kl_[size_t(row) * size_t(groups_) + size_t(group)]; }
  // With group_means: every group's posterior mean given the means of the groups above
  // (model.group_posterior_means), group after group, group_mu_size() values per row.
  int group_mu_size() const { return group_mu_size_; }
  const float* group_mu(int row) const { return group_mu_.data() + size_t(row) * size_t(group_mu_size_); }
  // log (1/k) sum_t w_t: minus the row's importance-weighted NLL estimate (k > 0).
  float log_mean_weight(int row) const { return iw_[size_t(row)]; }
  // The posterior's mean and log-variance, latent_dim() values each.
  const float* mu(int row) const { return stats_.data() + size_t(row) * 2 * size_t(latent_); }
  const float* logvar(int row) const { return mu(row) + latent_; }
  int latent_dim() const { return latent_; }
  int32_t label(int row) const { return batches_.label(row); }  // -1 when the set has no labels
  const float* x() { return batches_.x(); }  // the last score()'s images, on the device

 private:
  const Config& config_;
  Backend& be_;
  VaeModel& model_;
  EvalBatches batches_;
  int dim_, latent_, k_, chunk_, images_per_group_, k_piece_;
  int groups_;  // model.kl_groups() when above 1, else 0 (no per-group terms)
  int group_mu_size_ = 0;  // the groups' sizes summed, with group_means; else 0
  std::vector<float> recon_, kl_, iw_, stats_;
  std::vector<float> group_kl_, group_column_;  // rows x groups; one group's rows
  std::vector<float> group_mu_;                 // rows x group_mu_size_
  DeviceBuffer logw_, iw_dev_, group_mu_dev_;
};

}  // namespace elbo
