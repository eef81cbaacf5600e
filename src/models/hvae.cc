#include "elbo/models/hvae.h"

#include "elbo/error.h"
#include "elbo/kernels/philox.h"
#include "elbo/nn/gaussian_kl.h"
#include "elbo/nn/gaussian_merge.h"
#include "elbo/nn/importance_bound.h"
#include "elbo/nn/layers.h"
#include "elbo/nn/variance_bound.h"

namespace elbo {
namespace {

// The total KL per row, sum of the groups' (for logs and kl_per_row()). It only observes:
// the objective seeds every group's KL term itself, since a seed on a sum would not reach
// the terms (Graph seeds the per-row terms that read them with Weight, not a gradient).
class KlTotalNode final : public Node {
 public:
  KlTotalNode(const std::vector<Var>& groups, Var total) {
    inputs = groups;
    outputs = {total};
    observes_only = true;
  }
  const char* kind() const override { return "kl_total"; }
  void forward(Backend& be, Graph& g) override {
    const size_t rows = g.shape(outputs[0]).numel();
    be.copy(g.value(outputs[0]), g.value(inputs[0]), rows);
    for (size_t l = 1; l < inputs.size(); ++l) be.axpy(g.value(outputs[0]), g.value(inputs[l]), rows, 1.0f);
  }
};

}  // namespace

Hvae::Hvae(const ModelConfig& config, Shape sample, uint64_t seed)
    : dim_(int(sample.row_size())),
      likelihood_(parse_likelihood(config.likelihood, config.gaussian_sigma)),
      residual_(config.posterior == "residual"),
      bound_{config.logvar_clamp, config.sigma_floor},
      seed_(seed) {
  if (config.group_type == "conv") image_ = sample;
  const size_t L = config.latents.size();
  ELBO_CHECK(L >= 1, "model.latents: hvae needs at least one stochastic group");
  ELBO_CHECK(config.group_depth >= 1, "model.group_depth: at least one layer per block, got " << config.group_depth);
  ELBO_CHECK(config.posterior == "merge" || config.posterior == "residual",
             "model.posterior: merge or residual, got '" << config.posterior << "'");
  ELBO_CHECK(!config.conditional, "model.conditional: hvae has no conditional variant yet");
  ELBO_CHECK(config.group_type == "mlp" || config.group_type == "conv",
             "model.group_type: mlp or conv, got '" << config.group_type << "'");
  blocks_ = config.group_type == "conv" ? make_conv_blocks(store_, config, sample, residual_)
                                        : make_mlp_blocks(store_, config, dim_, residual_);
  for (size_t l = 0; l < L; ++l) latents_.push_back(blocks_->latent_size(l));
  noise_.resize(L);
}

// Conv groups read images (an input cannot be viewed with another shape), MLPs rows.
Shape Hvae::input_shape(int rows) const {
  if (image_.n == 0) return Shape::rows(rows, dim_);
  return Shape::images(rows, image_.c, image_.h, image_.w);
}

// Features d_{L-1} = up_{L-1}(x), d_l = up_l(d_{l+1}); the posterior of group l reads its
// bottom-up statistics (merge, and the top group) or d_l itself (residual, whose head
// also reads the top-down features).
Hvae::BottomUp Hvae::bottom_up(Graph& g, Var x) const {
  BottomUp bu(latents_.size());
  Var d = x;
  for (size_t l = latents_.size(); l-- > 0;) {
    d = blocks_->up(g, l, d);
    bu[l] = residual_ && l > 0 ? d : bound_variance(g, blocks_->posterior_stats(g, l, d), bound_);
  }
  return bu;
}

Hvae::TopDown Hvae::top_down(Graph& g, const BottomUp& bu, size_t posterior_groups, bool means_only) {
  const size_t L = latents_.size();
  TopDown td;
  td.q.resize(L);
  td.p.resize(L);
  td.z.resize(L);
  td.sample.resize(L);
  Var h;  // the top-down features the group above passes down
  for (size_t l = 0; l < L; ++l) {
    if (l > 0) {
      h = blocks_->down(g, l - 1, h, td.z[l - 1]);
      td.p[l] = bound_variance(g, blocks_->prior(g, l, h), bound_);
    }
    if (l >= posterior_groups) {
      td.z[l] = prior_sample(g, l, td.p[l], g.shape(bu[0]).n);
      continue;
    }
    if (l == 0) {
      td.q[0] = bu[0];  // the prior is N(0, I): the bottom-up statistics are q itself
    } else {
      td.q[l] = residual_ ? bound_variance(g, add(g, td.p[l], blocks_->posterior_offsets(g, l, bu[l], h)), bound_)
                          : gaussian_merge(g, bu[l], td.p[l]);
    }
    if (means_only) {
      td.z[l] = columns(g, td.q[l], 0, latents_[l]);
    } else {
      td.sample[l] = gaussian_sample(g, td.q[l], &noise_[l]);
      td.z[l] = td.sample[l].z;
    }
  }
  td.out = blocks_->out(g, blocks_->down(g, L - 1, h, td.z[L - 1]));
  return td;
}

// z = mu + T sigma eps, as mu + T (z_1 - mu) from the draw z_1 = mu + sigma eps at T = 1
// (composed of existing nodes; T = 1 records the plain draw). The top group's N(0, I) is
// drawn from zero statistics.
Var Hvae::prior_sample(Graph& g, size_t l, Var p, int rows) {
  const float t = sample_temperature(int(l));
  if (l == 0) {
    Var z = gaussian_sample(g, g.constant(Shape::rows(rows, 2 * latents_[0])), &noise_[0]).z;
    return t == 1.0f ? z : scale(g, z, t);
  }
  Var z = gaussian_sample(g, p, &noise_[l]).z;
  if (t == 1.0f) return z;
  Var mu = columns(g, p, 0, latents_[l]);
  return add(g, mu, scale(g, add(g, z, scale(g, mu, -1.0f)), t));
}

Var Hvae::nll(Graph& g, Var out, Var x) const {
  return likelihood_nll(g, out, x, likelihood_);
}

// The mean of p(x | z) as rows: the sigmoid of the logits, or the mean half of the pairs.
Var Hvae::mean_of(Graph& g, Var out) const {
  return g.view(likelihood_mean(g, out, likelihood_), Shape::rows(g.shape(out).n, dim_));
}

// The ELBO's terms: -log p(x | z) and the groups' KLs, the top's against N(0, I) (with
// free bits' gates), every other against the prior the top-down tower computed for it.
void Hvae::record_elbo(Graph& g, Program& p, int rows) {
  p.in = g.input("x", input_shape(rows));
  BottomUp bu = bottom_up(g, p.in);
  TopDown td = top_down(g, bu, latents_.size(), false);
  p.stats = td.q[0];
  p.recon = nll(g, td.out, p.in);
  for (size_t l = 0; l < latents_.size(); ++l)
    p.group_kl.push_back(l == 0 ? kl_std_normal(g, td.q[0], &kl_dim_gates_) : kl_gaussians(g, td.q[l], td.p[l]));
  if (latents_.size() == 1) {
    p.kl = p.group_kl[0];
  } else {
    p.kl = g.tensor(Shape::rows(rows, 1));
    g.add<KlTotalNode>(p.group_kl, p.kl);
  }
}

// k samples per input, numbered image by image (rows i*k .. i*k+k-1); the bottom-up pass
// runs once per image and its outputs are repeated, the top-down pass once per sample
// (each sample's z_<l gives its own priors). p.recon gets the samples' -log p(x | z); the
// result is sum_l log p(z_l | z_<l) - log q(z_l | x, z_<l), the rest of log w.
Var Hvae::record_log_ratio(Graph& g, Program& p, int rows, int k) {
  p.in = g.input("x", input_shape(rows));
  BottomUp bu = bottom_up(g, p.in);
  p.stats = bu[0];
  if (k > 1)
    for (Var& v : bu) v = repeat_rows(g, v, k);
  TopDown td = top_down(g, bu, latents_.size(), false);
  Var x_rep = k > 1 ? repeat_rows(g, p.in, k) : p.in;
  p.recon = nll(g, td.out, x_rep);
  Var log_ratio = prior_minus_posterior(g, td.sample[0], td.q[0]);
  for (size_t l = 1; l < latents_.size(); ++l)
    log_ratio = add(g, log_ratio, gaussian_log_ratio(g, td.sample[l], td.q[l], td.p[l]));
  return log_ratio;
}

Hvae::Program& Hvae::program(Backend& be, Purpose purpose, int rows, int k, bool gradients) {
  auto key = std::make_tuple(purpose, rows, k, gradients);
  auto it = programs_.find(key);
  if (it != programs_.end()) return it->second;
  Program p;
  p.graph = std::make_unique<Graph>(be, store_);
  Graph& g = *p.graph;
  g.set_recompute_layers(recompute_ && gradients);  // only a backward has anything to recompute
  switch (purpose) {
    case Purpose::kElbo:
      record_elbo(g, p, rows);
      break;
    case Purpose::kIwae: {  // the k-sample bound, trained through its normalised weights
      Var log_ratio = record_log_ratio(g, p, rows, k);
      p.record_importance_bound(log_ratio, k, objective_.warms_up_log_ratio() ? &log_ratio_weight_ : nullptr);
      break;
    }
    case Purpose::kImportance: {
      Var log_ratio = record_log_ratio(g, p, rows, k);
      p.out = log_weight(g, p.recon, log_ratio);
      break;
    }
    case Purpose::kDecode: {  // ancestral sampling below the given top group
      p.in = g.input("z", blocks_->latent_shape(0, rows));
      Var z = p.in, h;
      for (size_t l = 1; l < latents_.size(); ++l) {
        h = blocks_->down(g, l - 1, h, z);
        z = prior_sample(g, l, blocks_->prior(g, l, h), rows);
      }
      p.out = mean_of(g, blocks_->out(g, blocks_->down(g, latents_.size() - 1, h, z)));
      break;
    }
    case Purpose::kEncode:
      p.in = g.input("x", input_shape(rows));
      p.out = columns(g, bottom_up(g, p.in)[0], 0, latents_[0]);
      break;
    case Purpose::kReconstruct:
    case Purpose::kTopGroups:  // k: the groups taken from the posterior
      p.in = g.input("x", input_shape(rows));
      p.out = mean_of(g, top_down(g, bottom_up(g, p.in), purpose == Purpose::kTopGroups ? size_t(k) : latents_.size(),
                                  true)
                             .out);
      break;
    case Purpose::kGroupMeans: {
      p.in = g.input("x", input_shape(rows));
      TopDown td = top_down(g, bottom_up(g, p.in), latents_.size(), true);
      p.out = td.z[0];
      for (size_t l = 1; l < latents_.size(); ++l) p.out = concat_columns(g, p.out, td.z[l]);
      break;
    }
  }
  g.plan(gradients);
  return programs_.emplace(key, std::move(p)).first->second;
}

// Group l draws normals [offset_l, offset_l + latents[l]) of each sample's noise row,
// offset_l the sizes of the groups above: one noise row per sample for the whole hierarchy.
void Hvae::set_noise(const NoiseKey& noise) {
  uint32_t offset = noise.element_offset;
  for (size_t l = 0; l < latents_.size(); ++l) {
    noise_[l] = noise;
    noise_[l].element_offset = offset;
    offset += uint32_t(latents_[l]);
  }
}

void Hvae::set_sampling_noise(int rows) {
  set_noise(NoiseKey{seed_, kRngSample, decoded_rows_, 0});
  decoded_rows_ += uint64_t(rows);
}

Hvae::Program& Hvae::training_program(Backend& be, int rows) {
  return objective_.iwae() ? program(be, Purpose::kIwae, rows, objective_.samples, /*gradients=*/true)
                           : program(be, Purpose::kElbo, rows, 1, /*gradients=*/true);
}

size_t Hvae::training_activation_bytes(Backend& be, int rows) {
  return training_program(be, rows).graph->arena_floats() * sizeof(float);
}

void Hvae::forward(Backend& be, const float* x, int rows, const NoiseKey& noise, Pass pass) {
  const bool train = pass == Pass::kTrain;
  train_ = train ? &training_program(be, rows) : &program(be, Purpose::kElbo, rows, 1, /*gradients=*/false);
  train_pass_ = train;
  set_noise(noise);
  train_->graph->bind(train_->in, x);
  train_->graph->forward();
}

const float* Hvae::recon_per_row() const {
  ELBO_CHECK(train_, "hvae: recon_per_row() before forward()");
  return train_->graph->value(train_->recon);
}

const float* Hvae::kl_per_row() const {
  ELBO_CHECK(train_, "hvae: kl_per_row() before forward()");
  return train_->graph->value(train_->kl);
}

const float* Hvae::kl_group_per_row(int group) const {
  ELBO_CHECK(train_, "hvae: kl_group_per_row() before forward()");
  ELBO_CHECK(group >= 0 && group < kl_groups(), "hvae: KL group " << group << " of " << kl_groups());
  // The iwae objective's pass estimates only the total KL (log q - log p of its samples).
  return train_->group_kl.empty() ? nullptr : train_->graph->value(train_->group_kl[size_t(group)]);
}

const float* Hvae::log_mean_weight_per_row() const {
  ELBO_CHECK(train_, "hvae: log_mean_weight_per_row() before forward()");
  return train_->values(train_->log_mean_weight);
}

const float* Hvae::trained_log_mean_weight_per_row() const {
  ELBO_CHECK(train_, "hvae: trained_log_mean_weight_per_row() before forward()");
  return train_->values(train_->trained_bound);
}

const float* Hvae::posterior_stats() const {
  ELBO_CHECK(train_, "hvae: posterior_stats() before forward()");
  return train_->graph->value(train_->stats);
}

void Hvae::backward(Backend& be, const float* x, int rows, float recon_weight, Weight kl_weight,
                    const std::function<void(size_t)>& on_grads_ready) {
  (void)be;
  ELBO_CHECK(train_ && train_pass_ && train_->graph->shape(train_->in).n == rows,
             "hvae: backward() without its forward() of the training pass");
  train_->graph->bind(train_->in, x);
  if (train_->backward_through_bound(recon_weight, on_grads_ready)) return;  // iwae
  std::vector<LossSeed> seeds = {{train_->recon, Weight(recon_weight)}};
  // Each group's KL, weighted alike, or by its own device weight (KL balancing, free bits per group).
  for (size_t l = 0; l < train_->group_kl.size(); ++l)
    seeds.push_back({train_->group_kl[l], kl_group_weights_ ? Weight(1.0f, kl_group_weights_ + l) : kl_weight});
  train_->graph->backward(seeds, on_grads_ready);
}

void Hvae::log_importance_weights(Backend& be, float* logw, const float* x, int images, int k,
                                  const NoiseKey& noise) {
  set_noise(noise);
  program(be, Purpose::kImportance, images, k).run_into(be, x, logw);
}

// The lower groups' prior samples use the model's seed and the sample-grid stream, past
// the top group's elements (which the caller's own draws of the top z may use), with
// serials that continue from call to call: successive chunks of one grid differ.
void Hvae::decode_mean(Backend& be, float* out, const float* z, int rows) {
  set_sampling_noise(rows);
  program(be, Purpose::kDecode, rows).run_into(be, z, out);
}

void Hvae::posterior_mean(Backend& be, float* mu, const float* x, int rows) {
  program(be, Purpose::kEncode, rows).run_into(be, x, mu);
}

void Hvae::reconstruct(Backend& be, float* out, const float* x, int rows) {
  program(be, Purpose::kReconstruct, rows).run_into(be, x, out);
}

// The objective is part of what a program records (the IWAE graph, the warm-up's weight,
// the group weights): programs recorded for another objective are dropped.
void Hvae::set_objective(const Objective& objective) {
  objective_ = objective;
  programs_.clear();
  train_ = nullptr;
}

// The temperatures are constants of the sampling programs: those recorded before are dropped.
void Hvae::set_sample_temperatures(const std::vector<float>& temperatures) {
  VaeModel::set_sample_temperatures(temperatures);
  for (auto it = programs_.begin(); it != programs_.end();) {
    const Purpose purpose = std::get<0>(it->first);
    const bool samples = purpose == Purpose::kDecode || purpose == Purpose::kTopGroups;
    if (samples && train_ == &it->second) train_ = nullptr;
    it = samples ? programs_.erase(it) : std::next(it);
  }
}

void Hvae::reconstruct_top_groups(Backend& be, float* out, const float* x, int rows, int groups) {
  ELBO_CHECK(groups >= 0 && groups <= kl_groups(),
             "--top-groups " << groups << ": the model has " << kl_groups() << " groups (0.." << kl_groups() << ")");
  set_sampling_noise(rows);
  program(be, Purpose::kTopGroups, rows, groups).run_into(be, x, out);
}

void Hvae::group_posterior_means(Backend& be, float* mu, const float* x, int rows) {
  program(be, Purpose::kGroupMeans, rows).run_into(be, x, mu);
}

}  // namespace elbo
