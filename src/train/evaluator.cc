#include "elbo/train/evaluator.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <sstream>
#include <vector>

#include "elbo/data/shard_set.h"
#include "elbo/error.h"
#include "elbo/io/progress.h"
#include "elbo/kernels/philox.h"
#include "elbo/train/checkpoint.h"
#include "elbo/train/image_scores.h"
#include "elbo/train/replica.h"
#include "elbo/train/run_outputs.h"
#include "elbo/train/signals.h"
#include "elbo/train/training_state.h"

namespace elbo {
namespace {

CheckpointState load_for_eval(const Config& config, const std::string& requested, std::string& path) {
  if (!requested.empty()) {
    path = requested;
    return load_checkpoint(requested);
  }
  ResumeResult rr = find_latest_valid_checkpoint(config.run.dir);
  for (const std::string& w : rr.warnings) std::fprintf(stderr, "elbo: warning: %s\n", w.c_str());
  ELBO_CHECK(rr.found, "no valid checkpoint in " << config.run.dir << "/checkpoints (train first, or pass --checkpoint FILE)");
  path = rr.path;
  return rr.state;
}

std::string shape_text(const ShardSetInfo& set) {
  return std::to_string(set.channels) + " x " + std::to_string(set.height) + " x " + std::to_string(set.width);
}

std::string result_json(const Config& config, const EvalResult& r, const std::string& copy_of) {
  std::ostringstream out;
  out.precision(10);
  out << "{\n";
  if (!copy_of.empty()) out << "  \"copy_of\": \"" << copy_of << "\",\n";
  out << "  \"checkpoint\": \"" << r.checkpoint << "\",\n  \"step\": " << r.step << ",\n  \"weights\": \"" << r.weights
      << "\",\n  \"data_test\": \""
      << config.data.test << "\",\n  \"images\": " << r.images << ",\n  \"test_set_images\": " << r.test_set_images
      << ",\n  \"test_nelbo\": " << r.nelbo << ",\n  \"test_recon\": " << r.recon << ",\n  \"test_kl\": " << r.kl
      << ",\n  \"test_nelbo_bits_per_dim\": " << r.nelbo_bpd << ",\n  \"iw_k\": " << r.k
      << ",\n  \"iw_nll\": " << r.iw_nll << ",\n  \"iw_nll_bits_per_dim\": " << r.iw_nll_bpd
      << ",\n  \"active_units\": " << r.active_units << ",\n  \"latent_dim\": " << r.latent_dim;
  auto list = [&](const auto& v) {
    out << "[";
    for (size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << v[i];
    out << "]";
  };
  if (!r.active_units_per_group.empty()) {
    out << ",\n  \"active_units_per_group\": ";
    list(r.active_units_per_group);
    out << ",\n  \"group_dims\": ";
    list(r.group_dims);
    out << ",\n  \"test_kl_per_group\": ";
    list(r.kl_per_group);
  }
  out << "\n}\n";
  return out.str();
}

// Rank 0: the result file, and run.dir/eval.json when this is a whole-test-set evaluation
// of one of run.dir's checkpoints written to the default place. Returns what was written.
std::string write_results(const Config& config, const EvalResult& r, const std::string& out) {
  const std::string name = eval_result_name(r.step, r.images, r.test_set_images);
  const std::string dir = checkpoint_output_dir(r.checkpoint);
  const std::string path = resolve_output(out, name, dir + "/" + name);
  write_file_atomically(path, result_json(config, r, ""));
  std::string written = path;
  if (out.empty() && r.images == r.test_set_images && same_folder(dir, config.run.dir)) {
    write_file_atomically(config.run.dir + "/eval.json", result_json(config, r, name));
    written += " (and " + config.run.dir + "/eval.json)";
  }
  return written;
}

}  // namespace

RestoredCheckpoint restore_on_ranks(const Config& config, MpiContext& mpi, Replica& replica,
                                    const std::string& requested, const ShardSetInfo& data,
                                    const std::string& data_key) {
  RestoredCheckpoint out;
  std::string error;
  if (mpi.is_root()) {
    try {
      CheckpointState st = load_for_eval(config, requested, out.path);
      ELBO_CHECK(st.model_config_yaml == model_config_to_yaml(config.model),
                 "checkpoint " << out.path << " was written for another model:\n"
                               << st.model_config_yaml << "the config in use has:\n"
                               << model_config_to_yaml(config.model));
      check_checkpoint_sample_shape(st, out.path, data.sample_shape(), data_key, data.manifest_path);
      try {
        out.weights = restore_inference_weights(st, out.path, *replica.backend, replica.model->params());
      } catch (const Error& e) {
        // Most likely images of another shape than the training data's: say so first.
        std::string model = ", which the model of " + out.path + " does not take";
        try {
          const ShardSetInfo train = open_shard_set(config.data.train);
          if (shape_text(train) != shape_text(data))
            model = ", but the model of " + out.path + " was trained on images of " + shape_text(train) +
                    " (data.train " + config.data.train + ")";
        } catch (const Error&) {
        }
        ELBO_FAIL(data_key << " " << data.manifest_path << " holds images of " << shape_text(data)
                           << " (channels x height x width)" << model << ": " << e.what());
      }
      out.step = st.step;
    } catch (const Error& e) {
      error = e.what();
    }
  }
  mpi.broadcast(error);
  if (!error.empty()) throw AgreedError(error);  // every rank has it: rank 0 prints it once
  mpi.broadcast(out.path);
  mpi.broadcast(out.weights);
  mpi.broadcast(&out.step, sizeof out.step);
  replica.comm->broadcast(replica.model->params().params(), replica.model->params().total(), 0);
  return out;
}

std::string eval_result_name(int64_t step, int64_t images, int64_t test_set_images) {
  return step_file_name("eval", step, images < test_set_images ? "_first" + std::to_string(images) + ".json" : ".json");
}

EvalResult evaluate(const Config& config, MpiContext& mpi, const EvalRequest& request) {
  // Ctrl-C, scancel, a time limit: stop within one chunk and say so (checked below).
  install_stop_signal_handlers();
  ELBO_CHECK(!config.data.test.empty(), "data.test: evaluation needs a test shard set (set data.test in the config "
                                        "or --set data.test=PATH/manifest.yaml)");
  ShardSetInfo test = open_shard_set(config.data.test);
  const int dim = int(test.sample_dim());
  Replica replica = [&] {
    try {
      return make_replica(config, mpi, test.sample_shape());
    } catch (const Error&) {
      explain_by_checkpoint_sample_shape(request.checkpoint, config.run.dir, model_config_to_yaml(config.model),
                                         test.sample_shape(), "data.test", config.data.test);
      throw;
    }
  }();
  Backend& be = *replica.backend;
  VaeModel& model = *replica.model;

  EvalResult result;
  const RestoredCheckpoint restored = restore_on_ranks(config, mpi, replica, request.checkpoint, test, "data.test");
  result.checkpoint = restored.path;
  result.weights = restored.weights;
  const int64_t step = restored.step;
  result.step = step;

  const int64_t n_images = config.eval.max_images > 0 ? std::min(config.eval.max_images, test.count) : test.count;
  const int64_t begin = n_images * mpi.rank() / mpi.world(), end = n_images * (mpi.rank() + 1) / mpi.world();
  const int k = int(config.eval.iw_samples);
  const int batch = int(std::max<int64_t>(1, config.eval.batch));

  // Test images, binarized once, with their classes for conditional models; per-image
  // scores as `elbo score` computes them.
  ImageScorer scorer(config, be, model, test, "data.test", batch, k, /*group_means=*/true);
  // Active units: per latent dimension, the sum and the sum of squares of E_q[z|x].
  const int latent = model.latent_dim();
  std::vector<double> mu_moments(2 * size_t(latent), 0.0);
  // Hierarchical models: the same moments of every group's posterior mean, group after group.
  const int groups = model.kl_groups();
  std::vector<int> group_dims;
  for (int l = 0; groups > 1 && l < groups; ++l) group_dims.push_back(model.group_dim(l));
  int all_groups = 0;
  for (int d : group_dims) all_groups += d;
  std::vector<double> group_moments(2 * size_t(all_groups), 0.0);
  double sums[4] = {0, 0, 0, 0};  // recon, kl, iw log-likelihood, images
  std::vector<double> group_kl_sums(group_dims.size(), 0.0);
  if (mpi.is_root()) {
    std::printf("elbo eval: %s (step %lld, %s) on %lld of %lld test images, k = %d, %d %s\n",
                result.checkpoint.c_str(), static_cast<long long>(step), result.weights.c_str(),
                static_cast<long long>(n_images), static_cast<long long>(test.count), k, mpi.world(),
                mpi.world() == 1 ? "rank" : "ranks");
    std::fflush(stdout);
  }
  // Rank 0 reports its own slice, scaled to all images (the ranks' slices are equal
  // up to one image and run at the same pace).
  const double scale = double(n_images) / double(std::max<int64_t>(1, end - begin));
  ProgressMeter progress("eval", "images", n_images, mpi.is_root());
  auto images_done = [&](int64_t done_here) {
    progress.update(int64_t(double(done_here) * scale));
    if (stop_signal_received())
      ELBO_FAIL("evaluation interrupted by " << stop_signal_name(last_stop_signal()) << " after " << done_here << " of "
                                             << end - begin << " images of this rank; no result was written");
  };
  for (int64_t first = begin; first < end; first += batch) {
    const int rows = int(std::min<int64_t>(batch, end - first));
    scorer.score(first, rows, [&](int done) { images_done(first - begin + done); });
    for (int r = 0; r < rows; ++r) {
      sums[0] += scorer.recon(r);
      sums[1] += scorer.kl(r);
      sums[2] += scorer.log_mean_weight(r);
      for (size_t l = 0; l < group_kl_sums.size(); ++l) group_kl_sums[l] += scorer.group_kl(r, int(l));
      const float* mu = scorer.mu(r);
      for (int j = 0; j < latent; ++j) {
        mu_moments[size_t(j)] += double(mu[j]);
        mu_moments[size_t(latent + j)] += double(mu[j]) * double(mu[j]);
      }
    }
    sums[3] += rows;
    if (all_groups > 0) {
      for (int r = 0; r < rows; ++r)
        for (int j = 0; j < all_groups; ++j) {
          const double m = scorer.group_mu(r)[j];
          group_moments[size_t(j)] += m;
          group_moments[size_t(all_groups + j)] += m * m;
        }
    }
  }
  mpi.allreduce_sum(sums, 4);
  mpi.allreduce_sum(mu_moments.data(), int(mu_moments.size()));
  if (all_groups > 0) {
    mpi.allreduce_sum(group_moments.data(), int(group_moments.size()));
    mpi.allreduce_sum(group_kl_sums.data(), int(group_kl_sums.size()));
  }
  const double images = sums[3];
  result.latent_dim = latent;
  for (int j = 0; j < latent; ++j) {
    const double mean = mu_moments[size_t(j)] / images;
    const double variance = mu_moments[size_t(latent + j)] / images - mean * mean;
    if (variance > 0.01) ++result.active_units;
  }
  result.group_dims = group_dims;
  for (size_t l = 0, j0 = 0; l < group_dims.size(); j0 += size_t(group_dims[l]), ++l) {
    int active = 0;
    for (size_t j = j0; j < j0 + size_t(group_dims[l]); ++j) {
      const double mean = group_moments[j] / images;
      if (group_moments[size_t(all_groups) + j] / images - mean * mean > 0.01) ++active;
    }
    result.active_units_per_group.push_back(active);
    result.kl_per_group.push_back(group_kl_sums[l] / images);
  }
  const double per_dim = 1.0 / (double(dim) * std::log(2.0));
  result.images = int64_t(images);
  result.test_set_images = test.count;
  result.k = k;
  result.recon = sums[0] / images;
  result.kl = sums[1] / images;
  result.nelbo = result.recon + result.kl;
  result.iw_nll = -sums[2] / images;
  result.nelbo_bpd = result.nelbo * per_dim;
  result.iw_nll_bpd = result.iw_nll * per_dim;
  if (mpi.is_root()) {
    std::printf("  negative ELBO   %.4f nats  (%.5f bits/dim)  recon %.4f  kl %.4f\n", result.nelbo, result.nelbo_bpd,
                result.recon, result.kl);
    std::printf("  IW NLL (k=%d)  %.4f nats  (%.5f bits/dim)\n", k, result.iw_nll, result.iw_nll_bpd);
    std::printf("  active units    %d of %d  (Var_x E_q[z|x] > 0.01)\n", result.active_units, result.latent_dim);
    for (size_t l = 0; l < group_dims.size(); ++l)
      std::printf("    group %zu       %d of %d  kl %.4f\n", l, result.active_units_per_group[l], group_dims[l],
                  result.kl_per_group[l]);
    for (const std::string& warning : collapse_warnings(result))
      std::fprintf(stderr, "elbo eval: warning: %s\n", warning.c_str());
    result.written = write_results(config, result, request.out);
    std::printf("elbo eval: wrote %s\n", result.written.c_str());
    std::fflush(stdout);
  }
  return result;
}

std::vector<std::string> collapse_warnings(const EvalResult& result) {
  std::vector<std::string> out;
  const std::vector<int>& per_group = result.active_units_per_group;
  int any_group = 0;
  for (int a : per_group) any_group += a;
  if (per_group.empty() ? result.active_units == 0 : any_group == 0) {
    out.push_back(
        "no active latent dimension: the posterior has collapsed to the prior (try train.kl_warmup_steps or a smaller "
        "train.beta)");
    return out;
  }
  for (size_t l = 0; l < per_group.size(); ++l)
    if (per_group[l] == 0)
      out.push_back("stochastic group " + std::to_string(l) + " (0 = top) has no active unit of its " +
                    std::to_string(result.group_dims[l]) +
                    ": the model ignores it (try train.kl_balance or train.free_bits with train.free_bits_per: group, "
                    "docs/models.md ## hvae)");
  return out;
}

}  // namespace elbo
