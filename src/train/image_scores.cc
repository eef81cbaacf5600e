#include "elbo/train/image_scores.h"

#include <algorithm>

#include "elbo/error.h"
#include "elbo/kernels/philox.h"

namespace elbo {
namespace {

// Test images get one fixed stochastic binarization, independent of ranks and batches.
constexpr uint64_t kTestBinarizeSerial0 = 1ull << 62;
// Importance samples draw from another part of the eval stream than the ELBO samples.
constexpr uint32_t kIwElementOffset = 1u << 20;

}  // namespace

ImageScorer::ImageScorer(const Config& config, Backend& be, VaeModel& model, const ShardSetInfo& set, const char* key,
                         int batch, int k, bool group_means)
    : config_(config),
      be_(be),
      model_(model),
      batches_(config, be, model, set, key, batch, kTestBinarizeSerial0),
      dim_(int(set.sample_dim())),
      latent_(model.latent_dim()),
      k_(k),
      // Importance samples decoded at once: whole images (all k) when they fit in iw_chunk rows.
      chunk_(int(std::max<int64_t>(1, config.eval.iw_chunk))),
      images_per_group_(std::max(1, chunk_ / std::max(1, k))),
      k_piece_(std::min(k, chunk_)),
      groups_(model.kl_groups() > 1 ? model.kl_groups() : 0),
      recon_(size_t(batch)),
      kl_(size_t(batch)),
      iw_(size_t(batch)),
      stats_(size_t(batch) * 2 * size_t(latent_)),
      group_kl_(size_t(batch) * size_t(groups_)),
      group_column_(groups_ > 0 ? size_t(batch) : 0),
      logw_(&be, size_t(std::max(images_per_group_ * k, k))),
      iw_dev_(&be, size_t(batch)) {
  for (int l = 0; group_means && l < groups_; ++l) group_mu_size_ += model.group_dim(l);
  group_mu_.resize(size_t(batch) * size_t(group_mu_size_));
  if (group_mu_size_ > 0) group_mu_dev_ = DeviceBuffer(&be, group_mu_.size());
}

void ImageScorer::score(int64_t first, int rows, const std::function<void(int)>& images_done) {
  auto done = [&](int images) {
    if (images_done) images_done(images);
  };
  batches_.load(first, rows, model_);
  const float* x = batches_.x();
  const uint64_t seed = config_.run.seed;
  model_.forward(be_, x, rows, NoiseKey{seed, kRngEval, uint64_t(first), 0}, VaeModel::Pass::kElbo);
  be_.copy_to_host(recon_.data(), model_.recon_per_row(), size_t(rows));
  be_.copy_to_host(kl_.data(), model_.kl_per_row(), size_t(rows));
  be_.copy_to_host(stats_.data(), model_.posterior_stats(), size_t(rows) * 2 * size_t(latent_));
  for (int l = 0; l < groups_; ++l) {
    const float* group = model_.kl_group_per_row(l);
    ELBO_CHECK(group, "elbo: the model's ELBO pass has no KL of group " << l);
    be_.copy_to_host(group_column_.data(), group, size_t(rows));
    for (int r = 0; r < rows; ++r) group_kl_[size_t(r) * size_t(groups_) + size_t(l)] = group_column_[size_t(r)];
  }
  if (group_mu_size_ > 0) {
    model_.group_posterior_means(be_, group_mu_dev_.data(), x, rows);
    be_.copy_to_host(group_mu_.data(), group_mu_dev_.data(), size_t(rows) * size_t(group_mu_size_));
  }
  if (k_ <= 0) return done(rows);

  const uint64_t k = uint64_t(k_);
  if (k_ <= chunk_) {
    for (int g = 0; g < rows; g += images_per_group_) {
      const int imgs = std::min(images_per_group_, rows - g);
      if (const float* c = batches_.condition(g)) model_.set_condition(c);
      model_.log_importance_weights(be_, logw_.data(), x + size_t(g) * dim_, imgs, k_,
                                    NoiseKey{seed, kRngEval, uint64_t(first + g) * k, kIwElementOffset});
      be_.distributions().log_mean_exp_rows(iw_dev_.data() + g, logw_.data(), imgs, k_);
      done(g + imgs);
    }
  } else {
    // k above iw_chunk: one image at a time, its samples in pieces of iw_chunk.
    for (int i = 0; i < rows; ++i) {
      if (const float* c = batches_.condition(i)) model_.set_condition(c);
      for (int t0 = 0; t0 < k_; t0 += k_piece_) {
        const int kc = std::min(k_piece_, k_ - t0);
        model_.log_importance_weights(be_, logw_.data() + t0, x + size_t(i) * dim_, 1, kc,
                                      NoiseKey{seed, kRngEval, uint64_t(first + i) * k + uint64_t(t0), kIwElementOffset});
      }
      be_.distributions().log_mean_exp_rows(iw_dev_.data() + i, logw_.data(), 1, k_);
      done(i + 1);
    }
  }
  be_.copy_to_host(iw_.data(), iw_dev_.data(), size_t(rows));
}

}  // namespace elbo
