#include "elbo/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>
#include <vector>

#include "elbo/data/loader.h"
#include "elbo/dist/grad_reducer.h"
#include "elbo/error.h"
#include "elbo/io/crc32.h"
#include "elbo/kernels/philox.h"
#include "elbo/optim/adam.h"
#include "elbo/train/checkpoint.h"
#include "elbo/train/fault_injection.h"
#include "elbo/train/metrics.h"
#include "elbo/train/objective.h"
#include "elbo/train/optimizer_state.h"
#include "elbo/train/replica.h"
#include "elbo/train/run_outputs.h"
#include "elbo/train/sample_grids.h"
#include "elbo/train/signals.h"
#include "elbo/train/step_program.h"
#include "elbo/train/training_state.h"
#include "elbo/train/validation.h"
#include "elbo/train/watchdog.h"

namespace elbo {

int64_t total_steps(const Config& config, int64_t dataset_count) {
  if (config.train.steps > 0) return config.train.steps;
  return std::max<int64_t>(1, config.train.epochs * dataset_count / config.train.global_batch);
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Page-locked host buffers for the step's upload (StepScalars, then the batch), used
// in turn. Before a buffer is refilled the host waits for the marker enqueued after its
// last upload, so an asynchronous copy never reads a half-rewritten buffer and the host
// runs at most one step ahead of the device.
class UploadStaging {
 public:
  UploadStaging(Backend& be, size_t batch_floats) : be_(be), n_(kStepScalarFloats + batch_floats) {
    for (float*& b : buffers_) b = be.alloc_host_staging(n_);
  }
  // Never throws: it also runs while an error unwinds the stack (a sticky CUDA error, an
  // NCCL failure), and a throw here would be std::terminate, hiding that error. If the
  // device cannot be synchronised, copies may still read the buffers: they are left
  // allocated (the process is ending with the error anyway).
  ~UploadStaging() {
    try {
      be_.synchronize();
    } catch (const std::exception& e) {
      report_cleanup_error("synchronising before freeing the upload buffers", e.what());
      return;
    }
    for (float* b : buffers_) be_.release_host_staging(b);
  }
  UploadStaging(const UploadStaging&) = delete;
  UploadStaging& operator=(const UploadStaging&) = delete;

  void upload(float* device_dst, const StepScalars& scalars, const std::vector<float>& batch) {
    const size_t slot = next_++ % 2;
    be_.wait_marker(markers_[slot]);
    float* buf = buffers_[slot];
    std::memcpy(buf, &scalars, sizeof scalars);
    const size_t batch_floats = std::min(n_ - kStepScalarFloats, batch.size());
    std::copy(batch.begin(), batch.begin() + long(batch_floats), buf + kStepScalarFloats);
    be_.copy_to_device(device_dst, buf, kStepScalarFloats + batch_floats);
    markers_[slot] = be_.enqueue_marker();
  }

 private:
  Backend& be_;
  size_t n_;
  float* buffers_[2] = {nullptr, nullptr};
  uint64_t markers_[2] = {0, 0};
  size_t next_ = 0;
};

class Trainer {
 public:
  Trainer(const Config& config, MpiContext& mpi)
      : cfg_(config), mpi_(mpi), fault_(FaultInjection::from_env()), objective_(Objective::from_config(config.train)) {}

  TrainOutcome run() {
    ELBO_CHECK(cfg_.train.global_batch % mpi_.world() == 0,
               "train.global_batch = " << cfg_.train.global_batch << " is not divisible by the world size "
                                       << mpi_.world() << " (each rank takes an equal slice; choose a multiple of "
                                       << mpi_.world() << ")");
    mpi_.require_same_agreed(crc32_bytes(config_to_yaml(cfg_).data(), config_to_yaml(cfg_).size()),
                             "the configuration");
    // Every rank checks its inputs (a shard changed since its manifest, a test set of
    // another shape); one message for the job names the first rank that failed.
    mpi_.check_on_all_ranks([&] {
      data_ = open_shard_set(cfg_.data.train);
      check_test_set(data_.sample_dim());
    });
    const int64_t dim = data_.sample_dim();
    try {
      replica_ = make_replica(cfg_, mpi_, data_.sample_shape());
    } catch (const Error&) {
      // A resume on images of another shape than the checkpoint's: say that, not what the
      // model's layers make of them.
      explain_by_checkpoint_sample_shape("", cfg_.run.dir, model_config_to_yaml(cfg_.model), data_.sample_shape(),
                                         "data.train", cfg_.data.train);
      throw;
    }
    Backend& be = *replica_.backend;
    ParamStore& ps = replica_.model->params();
    // dist.zero (ZeRO-1): Adam's moments and update for this rank's shard only.
    adam_ = cfg_.dist.zero
                ? std::make_unique<Adam>(be, ps.total(), cfg_.train, shard_of(ps.total(), mpi_.world(), mpi_.rank()))
                : std::make_unique<Adam>(be, ps.total(), cfg_.train);
    local_rows_ = int(cfg_.train.global_batch / mpi_.world());
    steps_total_ = total_steps(cfg_, data_.count);
    adam_->set_total_steps(steps_total_);

    // ---- start: a finished run is left untouched (re-running its command must not
    // rewrite its final checkpoint and pictures); otherwise one line about the run, and
    // (after resume() accepted the run directory) the effective config in
    // run.dir/config.yaml; the CLI prints it with --verbose ----
    const int64_t completed = completed_step();
    if (completed >= steps_total_) return TrainOutcome{completed, false, true};
    if (mpi_.is_root()) {
      std::filesystem::create_directories(cfg_.run.dir);
      std::printf("elbo: %s: %d %s, replica on %s [%s], data plane %s, %zu parameters, objective %s, %lld steps "
                  "of %lld images (%lld in data.train); effective config in %s/config.yaml\n",
                  cfg_.run.dir.c_str(), mpi_.world(), mpi_.world() == 1 ? "rank" : "ranks", be.device().str().c_str(),
                  be.name().c_str(), replica_.comm->name().c_str(), ps.total(), objective_.describe().c_str(),
                  static_cast<long long>(steps_total_),
                  static_cast<long long>(cfg_.train.global_batch), static_cast<long long>(data_.count),
                  cfg_.run.dir.c_str());
      std::fflush(stdout);
    }
    // ---- end of the start block ----
    condition_dim_ = replica_.model->condition_dim();
    // The upload: the batch, then (conditional models) each row's one-hot class.
    staging_ = std::make_unique<UploadStaging>(be, size_t(local_rows_) * size_t(dim + condition_dim_));
    finite_flags_ = DeviceBuffer(&be, 4);
    reducer_ = std::make_unique<GradReducer>(*replica_.comm, ps.grads(), ps.reduced_size(),
                                             std::max<size_t>(1, size_t(cfg_.dist.bucket_mb * 262144.0)));
    // ZeRO-1 reduce-scatters the gradients where that keeps the all-reduce's bits (one
    // node of CPU ranks); elsewhere it all-reduces them and the shards stay bitwise.
    const bool scatter = cfg_.dist.zero && replica_.comm->reduce_scatter_matches_allreduce();
    if (scatter) reducer_->reduce_scatter_instead(ps.total());
    StepShape shape;
    shape.rows = local_rows_;
    shape.dim = int(dim);
    shape.global_batch = cfg_.train.global_batch;
    shape.seed = cfg_.run.seed;
    shape.dynamic_binarize = cfg_.data.binarize == "dynamic";
    shape.condition_dim = condition_dim_;
    shape.free_bits = objective_.free_bits_per_group ? 0.0f : objective_.free_bits;
    shape.group_free_bits = objective_.free_bits_per_group ? objective_.free_bits : 0.0f;
    shape.weigh_kl_groups = objective_.weighs_groups() && replica_.model->kl_groups() > 1;
    shape.samples_per_image = objective_.samples;
    shape.update_rule = update_rule_of(cfg_.train);
    shape.ema_decay = cfg_.train.ema_decay;
    // beta-TCVAE: the estimate's blocks cut each rank's batch alike (every rank checks).
    ELBO_CHECK(!objective_.total_correlation() || local_rows_ % objective_.tc_block(local_rows_) == 0,
               "train.tc_batch " << objective_.tc_batch << " does not divide the " << local_rows_
                                 << " images of each rank's batch (train.global_batch " << cfg_.train.global_batch
                                 << " on " << mpi_.world() << " ranks): choose a divisor of it");
    replica_.model->set_objective(objective_);
    replica_.model->set_recompute(cfg_.train.recompute);
    // The training graph is planned here, before the first step: what a batch costs.
    const size_t activation_bytes = replica_.model->training_activation_bytes(be, local_rows_);
    if (mpi_.is_root()) {
      std::printf("elbo: memory per rank: activations %.2f MB (%d images: values and gradients of the step's "
                  "graph), parameters and gradients %.2f MB, %s\n",
                  double(activation_bytes) / 1e6, local_rows_, double(2 * ps.total() * sizeof(float)) / 1e6,
                  describe_optimizer_memory(*adam_, mpi_.world()).c_str());
      if (cfg_.dist.zero)
        std::printf("elbo: dist.zero: gradients %s, parameters all-gathered after each update\n",
                    scatter ? "reduce-scattered (each rank sums its shard only)"
                            : "all-reduced (this data plane's reduce-scatter may add in another order than its "
                              "all-reduce, and the sharded run must keep the unsharded run's bits)");
      std::fflush(stdout);
    }
    program_ = std::make_unique<StepProgram>(be, *replica_.model, *adam_, reducer_.get(), shape);
    program_->set_phase_hook([this](const char* phase) {
      if (watchdog_) watchdog_->beat(step_, phase);
    });
    // A graph needs a backend that captures (CUDA) and collectives it can record (NCCL).
    program_->allow_graph(cfg_.train.cuda_graph && be.device().is_cuda() && replica_.comm->capturable(),
                          mpi_graph_agreement(mpi_));
    resume();
    if (mpi_.is_root()) read_best_record();
    // The run goes on: its config, and no COMPLETED of a shorter run (a requeueing job
    // script must keep going until this one is done).
    if (mpi_.is_root()) {
      write_file_atomically(cfg_.run.dir + "/config.yaml", config_to_yaml(cfg_));
      if (completed >= 0) std::remove((cfg_.run.dir + "/COMPLETED").c_str());
    }

    LoaderOptions lo;
    lo.rank = mpi_.rank();
    lo.world = mpi_.world();
    lo.global_batch = cfg_.train.global_batch;
    lo.seed = cfg_.run.seed;
    lo.scale = cfg_.data.scale;
    lo.threshold = cfg_.data.binarize == "threshold" ? cfg_.data.threshold : -1.0f;
    lo.memory_budget_bytes = cfg_.data.memory_budget_mb << 20;
    lo.prefetch_batches = cfg_.data.prefetch_batches;
    loader_ = std::make_unique<DataLoader>(data_, lo);
    loader_->seek(cursor_);

    if (mpi_.is_root())
      metrics_ = std::make_unique<MetricsWriter>(cfg_.run.dir + "/metrics." + (cfg_.train.metrics_format == "csv" ? "csv" : "jsonl"),
                                                 cfg_.train.metrics_format, step_);
    // wall_s continues the total of the records kept from before a resume.
    if (metrics_ && std::isfinite(metrics_->last_kept("wall_s"))) wall_base_s_ = metrics_->last_kept("wall_s");
    install_stop_signal_handlers();
    // A communicator that times out its own device waits reports a stuck collective
    // better than the watchdog can (NCCL's diagnosis): it gets the first word.
    const double device_wait_grace_s = replica_.comm->times_out_device_waits() ? 10.0 : 0.0;
    Watchdog watchdog(mpi_, cfg_.dist.timeout_s + device_wait_grace_s, cfg_.dist.peer_timeout_s);
    watchdog_ = &watchdog;

    TrainOutcome outcome;
    last_log_time_ = last_save_time_ = train_start_ = Clock::now();
    last_log_step_ = step_;
    while (step_ < steps_total_) {
      train_step();
      if (fault_.perturb_params(mpi_.rank(), step_)) corrupt_first_parameter(false);
      if (fault_.nan_params(mpi_.rank(), step_)) corrupt_first_parameter(true);
      const bool validated = validation_due() && run_validation();
      if (step_ % cfg_.train.log_every == 0 || step_ == steps_total_ || validated) log_progress();
      if (cfg_.dist.replica_check_every > 0 && step_ % cfg_.dist.replica_check_every == 0)
        require_identical_replicas();
      fault_.after_step(mpi_.rank(), step_, cfg_.run.dir);
      watchdog.beat(step_, "stop-flag agreement");
      // One agreement per step carries both requests: 2 = a stop signal on some rank,
      // 1 = rank 0's clock says a timed checkpoint is due (a stop writes one anyway).
      const bool timed = mpi_.is_root() && cfg_.train.checkpoint_minutes > 0 &&
                         seconds_since(last_save_time_) >= 60.0 * cfg_.train.checkpoint_minutes;
      const int request = mpi_.allreduce_max(!bad_input_.empty() ? 3 : stop_signal_received() ? 2 : timed ? 1 : 0);
      if (request == 3) stop_for_bad_input();
      if (request == 2) {
        if (mpi_.is_root()) {
          std::printf("elbo: stop signal received; writing the checkpoint of step %lld (interrupting again now "
                      "loses the steps since step %lld)\n",
                      static_cast<long long>(step_), static_cast<long long>(std::max<int64_t>(0, last_checkpoint_step_)));
          std::fflush(stdout);
        }
        save("stop signal");
        if (mpi_.is_root())
          std::printf("elbo: stopped by signal at step %lld; checkpoint written. Re-run the same command to resume.\n",
                      static_cast<long long>(step_));
        outcome.stopped_by_signal = true;
        break;
      }
      const bool interval =
          cfg_.train.checkpoint_every > 0 && step_ % cfg_.train.checkpoint_every == 0 && step_ < steps_total_;
      if (interval) save("interval");
      else if (request == 1 && step_ < steps_total_) save("checkpoint_minutes");
    }
    if (!outcome.stopped_by_signal) {
      save("end of training");
      watchdog.beat(step_, "sample grids");
      // The pictures show the averaged weights, as `elbo sample` does (training is over).
      program_->weight_average().swap_with(replica_.model->params().params());
      write_sample_grids(cfg_, mpi_, *replica_.backend, *replica_.model, data_);
      outcome.completed = true;
      if (mpi_.is_root()) {
        mark_completed();
        std::printf("elbo: training finished at step %lld\n", static_cast<long long>(step_));
      }
    }
    std::fflush(stdout);
    watchdog_ = nullptr;
    outcome.steps_done = step_;
    return outcome;
  }

 private:
  void train_step() {
    watchdog_->beat(step_, "data");
    auto t0 = Clock::now();
    Batch batch = loader_->next();
    data_wait_s_ += seconds_since(t0);
    if (fault_.poison_batch(mpi_.rank(), step_ + 1) && !batch.images.empty()) batch.images[0] = std::nanf("");
    const std::string bad = describe_bad_input(batch);
    if (condition_dim_ > 0) append_one_hot_classes(batch);
    const uint64_t serial0 = uint64_t(batch.cursor + batch.local_offset);  // world-size independent noise counters
    StepScalars scalars = program_->scalars(step_, serial0, objective_.kl_weight(step_));
    scalars.kl_balance = objective_.kl_balance_at(step_) ? 1.0f : 0.0f;
    if (!bad.empty()) {
      if (program_->guard().rule().skip_nonfinite) {
        // The step's health carries it to every rank, which all skip this step.
        scalars.input_fault = std::nanf("");
        std::fprintf(stderr, "elbo: warning: %s; the step is skipped on every rank (train.nonfinite: skip)\n",
                     bad.c_str());
        std::fflush(stderr);
      } else if (bad_input_.empty()) {
        bad_input_ = bad;
      }
    }
    staging_->upload(program_->step_input(), scalars, batch.images);
    const bool log_step = (step_ + 1) % cfg_.train.log_every == 0 || step_ + 1 == steps_total_;
    const bool was_graph = program_->graph_active();
    program_->run(log_step);
    report_graph_state(was_graph);
    comm_wait_s_ += reducer_->take_comm_seconds();
    cursor_ = batch.cursor + cfg_.train.global_batch;
    ++step_;
  }

  // One line when the step becomes a graph, or when capturing it failed.
  void report_graph_state(bool was_graph) {
    if (!mpi_.is_root() || graph_reported_) return;
    if (program_->graph_active() && !was_graph) {
      std::printf("elbo: step captured as a CUDA graph at step %lld; later steps replay it\n",
                  static_cast<long long>(step_ + 1));
      graph_reported_ = true;
    } else if (!program_->graph_failure().empty()) {
      std::fprintf(stderr, "elbo: warning: CUDA graph capture failed, steps run eagerly: %s\n",
                   program_->graph_failure().c_str());
      graph_reported_ = true;
    }
    std::fflush(stdout);
  }

  void log_progress() {
    Backend& be = *replica_.backend;
    require_finite("log");
    const size_t count = program_->loss_sums_size();
    std::vector<float> acc(count);
    float sumsq = 0.0f;
    be.copy_to_host(acc.data(), program_->loss_sums(), count);
    be.copy_to_host(&sumsq, program_->guard().grad_sumsq(), 1);
    program_->reset_loss_sums();
    // Every rank decided the same skips, so each knows the counts without a collective.
    const UpdateGuard::Counts skipped_now = program_->guard().counts();
    const int64_t skipped = skipped_now.total() - skipped_at_last_log_.total();
    skipped_at_last_log_ = skipped_now;
    watchdog_->beat(step_, "metrics all-reduce");
    std::vector<double> sums(acc.begin(), acc.end());
    sums.push_back(data_wait_s_);
    mpi_.allreduce_sum(sums.data(), int(sums.size()));
    const int64_t steps = step_ - last_log_step_;
    // The loss sums hold the applied steps only (a skipped step's loss may be NaN).
    const int64_t applied = steps - skipped;
    const double n = applied > 0 ? double(applied) * double(cfg_.train.global_batch) : std::nan("");
    const double recon = sums[LossSums::kRecon] / n, kl = sums[LossSums::kKl] / n, loss = recon + kl;
    const double data_wait = sums[count];
    // The KL of each latent dimension (the collapse monitor): how many carry information.
    const int latent = replica_.model->latent_dim(), groups = replica_.model->kl_groups();
    std::vector<double> kl_dims(sums.begin() + LossSums::kKlDims, sums.begin() + LossSums::kl_groups_at(latent));
    for (double& v : kl_dims) v /= n;
    // The KL of each stochastic group (hierarchical models), when the pass measured them.
    std::vector<double> kl_groups;
    if (groups > 1 && !objective_.iwae())
      for (int l = 0; l < groups; ++l) kl_groups.push_back(sums[LossSums::kl_groups_at(latent) + size_t(l)] / n);
    const int active_dims = int(std::count_if(kl_dims.begin(), kl_dims.end(), [](double v) { return v >= kKlActiveNats; }));
    // One instant for the interval, the running total and the next interval's start, so
    // that consecutive wall_s differ by exactly elapsed_s (the printing and the metrics
    // write fall into the next interval).
    const Clock::time_point logged_at = Clock::now();
    const double elapsed = std::chrono::duration<double>(logged_at - last_log_time_).count();
    // The first interval after a start or a resume may be a step or two (a checkpoint
    // between log steps) and holds the start-up work: no rate (nor ETA) from it until
    // log_every steps have been timed in this process.
    timed_steps_ += steps;
    const bool rate_known = timed_steps_ >= cfg_.train.log_every;
    const double rate = rate_known ? double(steps) * double(cfg_.train.global_batch) / std::max(elapsed, 1e-9)
                                   : kMetricAbsent;
    const double eta = double(steps_total_ - step_) * cfg_.train.global_batch / std::max(rate, 1e-9);
    const double epoch = double(cursor_) / double(data_.count);
    if (mpi_.is_root()) {
      char rate_text[48] = "-- samples/s  eta --";
      if (rate_known) std::snprintf(rate_text, sizeof rate_text, "%.0f samples/s  eta %s", rate, format_duration(eta).c_str());
      char term_text[48] = "";
      if (objective_.iwae()) std::snprintf(term_text, sizeof term_text, "  iwae %.4f", -sums[LossSums::kLogMeanWeight] / n);
      if (objective_.total_correlation()) std::snprintf(term_text, sizeof term_text, "  tc %.4f", sums[LossSums::kTc] / n);
      char skip_text[40] = "";
      if (skipped > 0) std::snprintf(skip_text, sizeof skip_text, "  skipped %lld", static_cast<long long>(skipped));
      if (applied > 0)
        std::printf("step %lld/%lld  epoch %.2f  loss %.4f%s  recon %.4f  kl %.4f  dims %d/%zu  |g| %.3f%s  %s\n",
                    static_cast<long long>(step_), static_cast<long long>(steps_total_), epoch, loss, term_text, recon,
                    kl, active_dims, kl_dims.size(), std::sqrt(double(sumsq)), skip_text, rate_text);
      else
        std::printf("step %lld/%lld  epoch %.2f  every step since step %lld was skipped  |g| %.3f  %s\n",
                    static_cast<long long>(step_), static_cast<long long>(steps_total_), epoch,
                    static_cast<long long>(last_log_step_), std::sqrt(double(sumsq)), rate_text);
      const bool alarm = steps > 0 && double(skipped) > cfg_.train.skip_alarm_share * double(steps);
      if (alarm) raise_skip_alarm(skipped, steps, skipped_now);
      if (applied > 0) warn_if_collapsed(kl, active_dims);
      if (applied > 0) warn_if_groups_collapsed(kl_groups);
      std::fflush(stdout);
      MetricsRecord r;
      r.step = step_;
      r.values = {{"epoch", epoch},
                  {"loss", loss},
                  {"recon", recon},
                  {"kl", kl},
                  {"kl_weight", objective_.kl_weight(step_ - 1)},
                  {"grad_norm", std::sqrt(double(sumsq))},
                  {"lr", adam_->learning_rate(step_)},
                  {"samples_per_s", rate},
                  {"data_wait_s", data_wait / mpi_.world()},
                  {"comm_wait_s", comm_wait_s_},
                  {"elapsed_s", elapsed},
                  {"wall_s", wall_base_s_ + std::chrono::duration<double>(logged_at - train_start_).count()}};
      r.values.push_back({"skipped_steps", double(skipped)});
      r.values.push_back({"skipped_nonfinite", double(skipped_now.nonfinite)});
      r.values.push_back({"skipped_over_threshold", double(skipped_now.over_threshold)});
      r.values.push_back({"skip_alarm", alarm ? 1.0 : 0.0});
      if (objective_.iwae()) r.values.push_back({"iwae", -sums[LossSums::kLogMeanWeight] / n});
      if (objective_.total_correlation()) r.values.push_back({"tc", sums[LossSums::kTc] / n});
      r.values.push_back({"kl_active_dims", double(active_dims)});
      for (size_t l = 0; l < kl_groups.size(); ++l) r.values.push_back({"kl_group_" + std::to_string(l), kl_groups[l]});
      for (size_t j = 0; j < kl_dims.size(); ++j) r.values.push_back({"kl_dim_" + std::to_string(j), kl_dims[j]});
      if (!cfg_.data.valid.empty()) {  // the columns exist in every record; values where a validation ran
        const bool now = last_valid_step_ == step_;
        r.values.push_back({"val_loss", now ? last_valid_.loss() : kMetricAbsent});
        r.values.push_back({"val_recon", now ? last_valid_.recon : kMetricAbsent});
        r.values.push_back({"val_kl", now ? last_valid_.kl : kMetricAbsent});
        if (now) std::printf("  validation  loss %.4f  recon %.4f  kl %.4f  (%lld images of data.valid)\n",
                             last_valid_.loss(), last_valid_.recon, last_valid_.kl,
                             static_cast<long long>(last_valid_.images));
      }
      metrics_->write(r);
      write_progress();
    }
    data_wait_s_ = 0.0;
    comm_wait_s_ = 0.0;
    last_log_step_ = step_;
    last_log_time_ = logged_at;
  }

  // <run.dir>/COMPLETED tells a requeueing job script that there is nothing left to do.
  void mark_completed() {
    const std::string path = cfg_.run.dir + "/COMPLETED", tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    ELBO_CHECK(f, "cannot write " << tmp);
    std::fprintf(f, "step %lld\n", static_cast<long long>(step_));
    std::fclose(f);
    ELBO_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename " << tmp << " to " << path);
  }

  // The step <run.dir>/COMPLETED records (-1 without one), agreed by all ranks. When it is
  // at least the run's length, rank 0 says so (and nothing is touched).
  int64_t completed_step() {
    int64_t done = -1;
    const std::string path = cfg_.run.dir + "/COMPLETED";
    if (mpi_.is_root()) {
      if (std::FILE* f = std::fopen(path.c_str(), "r")) {
        long long step = -1;
        if (std::fscanf(f, "step %lld", &step) == 1) done = step;
        std::fclose(f);
      }
      if (done >= steps_total_)
        std::printf("elbo: %s is already complete at step %lld (%s); nothing was changed. Use a new run.dir, or "
                    "raise train.steps above %lld to train further.\n",
                    cfg_.run.dir.c_str(), static_cast<long long>(done), path.c_str(), static_cast<long long>(done));
      std::fflush(stdout);
    }
    mpi_.broadcast(&done, sizeof done);
    return done;
  }

  static std::string format_duration(double s) {
    char buf[32];
    long t = long(s + 0.5);
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    return buf;
  }

  // Every rank checks its replica (parameters, Adam moments) and its own share of the
  // loss since the last log line; all ranks learn every rank's answer. Anything
  // non-finite stops the run on every rank together (an AgreedError) before a checkpoint
  // could be written: a checkpoint of NaNs would rotate the last good one away and be
  // resumed from. The message names the ranks whose own loss went non-finite, which
  // is where a bad batch or a bad node shows first (the all-reduce then spreads it).
  void require_finite(const char* when) {
    watchdog_->beat(step_, "finiteness check");
    Backend& be = *replica_.backend;
    ParamStore& ps = replica_.model->params();
    float* f = finite_flags_.data();
    be.all_finite(f + 0, ps.params(), ps.total());
    be.all_finite(f + 1, adam_->m(), adam_->state_size());  // this rank's shard with dist.zero
    be.all_finite(f + 2, adam_->v(), adam_->state_size());
    be.all_finite(f + 3, program_->loss_sums(), 2);
    float flags[4];
    be.copy_to_host(flags, f, 4);
    const uint64_t mine = uint64_t(flags[0] != 0.0f && flags[1] != 0.0f && flags[2] != 0.0f ? 0 : 1) |
                          uint64_t(flags[3] != 0.0f ? 0 : 2);
    const std::vector<uint64_t> all = mpi_.allgather(mine);
    std::string state_ranks, loss_ranks;
    for (int r = 0; r < mpi_.world(); ++r) {
      if (all[size_t(r)] & 1) state_ranks += (state_ranks.empty() ? "" : ", ") + std::to_string(r);
      if (all[size_t(r)] & 2) loss_ranks += (loss_ranks.empty() ? "" : ", ") + std::to_string(r);
    }
    if (state_ranks.empty() && loss_ranks.empty()) return;
    std::ostringstream msg;
    msg << "non-finite values at step " << step_ << " (" << when << " check): ";
    if (!loss_ranks.empty())
      msg << "the loss of rank(s) " << loss_ranks << " since step " << last_log_step_ << " is NaN or infinite";
    if (!state_ranks.empty())
      msg << (loss_ranks.empty() ? "" : "; ") << "the parameters or Adam moments of rank(s) " << state_ranks
          << " hold NaN or infinity";
    msg << ". Training stopped and nothing was written at this step; ";
    if (last_checkpoint_step_ >= 0)
      msg << "the newest checkpoint, " << checkpoint_path(cfg_.run.dir, last_checkpoint_step_) << " (step "
          << last_checkpoint_step_ << "), is kept and the same command resumes from it. ";
    else
      msg << "no checkpoint had been written yet. ";
    msg << "Lower train.lr, set train.grad_clip, or check the data of the ranks named.";
    throw AgreedError(msg.str());
  }

  // A NaN or infinite pixel would turn every replica's parameters into NaN through the
  // all-reduce. Checked on the host as each batch arrives (a few microseconds: the
  // sum of v*0 is NaN exactly when some v is not finite, and the loop vectorises).
  // Returns the first bad pixel's description, or "" when the batch is fine.
  std::string describe_bad_input(const Batch& batch) const {
    float lanes[16] = {};  // independent partial sums, so the loop vectorises without reassociation
    const float* x = batch.images.data();
    const size_t n = batch.images.size();
    size_t k = 0;
    for (; k + 16 <= n; k += 16)
      for (int j = 0; j < 16; ++j) lanes[j] += x[k + size_t(j)] * 0.0f;
    for (; k < n; ++k) lanes[0] += x[k] * 0.0f;
    float acc = 0.0f;
    for (float l : lanes) acc += l;
    if (acc == 0.0f) return "";
    const size_t dim = size_t(data_.sample_dim());
    size_t i = 0;
    while (i < batch.images.size() && std::isfinite(batch.images[i])) ++i;
    const int64_t sample = batch.sample_ids[i / dim];
    std::ostringstream msg;
    msg << "rank " << mpi_.rank() << ": sample " << sample << " of data.train (" << shard_file_of(data_, sample)
        << ") holds a "
        << (std::isnan(batch.images[i]) ? "NaN" : "infinite") << " pixel (element " << i % dim
        << "), in the batch of step " << step_ + 1;
    return msg.str();
  }

  // Every rank stops at the step where some rank met a non-finite input; the first such
  // rank's description is the one message. Nothing is written: the step already used
  // the batch, and the newest checkpoint predates it.
  [[noreturn]] void stop_for_bad_input() {
    const std::vector<uint64_t> bad = mpi_.allgather(bad_input_.empty() ? 0 : 1);
    int first = 0;
    while (bad[size_t(first)] == 0) ++first;
    std::string message = bad_input_;
    mpi_.broadcast(message, first);
    std::ostringstream msg;
    msg << message << ". Training stopped at step " << step_ << " and nothing was written; "
        << (last_checkpoint_step_ >= 0 ? "the newest checkpoint, " + checkpoint_path(cfg_.run.dir, last_checkpoint_step_) +
                                             ", is kept. Fix or remove that sample and re-run the same command."
                                       : std::string("no checkpoint had been written yet. Fix or remove that sample."));
    throw AgreedError(msg.str());
  }

  // Conditional models read each row's class as a one-hot vector after the batch.
  void append_one_hot_classes(Batch& batch) const {
    const size_t rows = size_t(batch.local_rows);
    const size_t offset = batch.images.size();
    batch.images.resize(offset + rows * size_t(condition_dim_), 0.0f);
    for (size_t r = 0; r < rows; ++r) {
      const int32_t label = batch.labels[r];
      if (label < 0 || label >= condition_dim_) {
        const int64_t sample = batch.sample_ids[r];
        ELBO_FAIL("sample " << sample << " of data.train (" << shard_file_of(data_, sample) << ") has label " << label
                            << ", outside 0.." << condition_dim_ - 1 << " (model.classes = " << condition_dim_
                            << "); raise model.classes or fix the labels");
      }
      batch.images[offset + r * size_t(condition_dim_) + size_t(label)] = 1.0f;
    }
  }

  // Replicas must stay identical; a checksum disagreement means silent divergence
  // (a bit flip, a nondeterministic op, a rank fed other data).
  void require_identical_replicas() {
    watchdog_->beat(step_, "replica check");
    Backend& be = *replica_.backend;
    ParamStore& ps = replica_.model->params();
    std::vector<float> host(ps.total());
    be.copy_to_host(host.data(), ps.params(), host.size());
    mpi_.require_same_agreed(crc32_bytes(host.data(), host.size() * sizeof(float)),
                             "a checksum of the parameters after step " + std::to_string(step_) +
                                 " (the replicas diverged; the newest checkpoint is kept)");
  }

  // Fault injection: this rank's replica drifts by changing its first parameter.
  // Fault injection: this replica's first parameter drifts by 1e-3, or becomes NaN.
  void corrupt_first_parameter(bool make_nan) {
    Backend& be = *replica_.backend;
    float v = 0.0f;
    be.copy_to_host(&v, replica_.model->params().params(), 1);
    v = make_nan ? std::nanf("") : v + 1e-3f;
    be.copy_to_device(replica_.model->params().params(), &v, 1);
    be.synchronize();
  }

  // data.test is read only after training (sample grids, `elbo eval`): a wrong path must
  // fail now, before the first step, not after hours of training.
  bool validation_due() const {
    return !cfg_.data.valid.empty() && cfg_.train.valid_every > 0 &&
           (step_ % cfg_.train.valid_every == 0 || step_ == steps_total_);
  }

  // The negative ELBO of the validation set; rank 0 logs it with the next record and
  // keeps the checkpoint with the lowest one in run.dir/best (its own rotation of one,
  // apart from the last train.keep_checkpoints). Returns true (a record is due).
  bool run_validation() {
    watchdog_->beat(step_, "validation");
    // On the averaged weights when there are some (what eval and sampling will use).
    WeightAverage& ema = program_->weight_average();
    ema.swap_with(replica_.model->params().params());
    const ValidationResult r = validate(cfg_, mpi_, *replica_.backend, *replica_.model, valid_);
    ema.swap_with(replica_.model->params().params());
    // Validation batches may have reallocated buffers that a captured step graph reads:
    // the ranks agree to capture again rather than replay it (a no-op without a graph).
    program_->revalidate_graph();
    ELBO_CHECK(std::isfinite(r.loss()), "validation at step " << step_ << ": the negative ELBO of data.valid is "
                                                              << r.loss() << " (non-finite)");
    last_valid_ = r;
    last_valid_step_ = step_;
    // Rank 0 keeps the best loss; the others learn whether to help gather the moments.
    int best = mpi_.is_root() && r.loss() < best_valid_loss_ ? 1 : 0;
    mpi_.broadcast(&best, sizeof best);
    const HostMoments moments = best ? gather_moments(mpi_, *replica_.backend, *adam_) : HostMoments{};
    if (mpi_.is_root() && best) {
      best_valid_loss_ = r.loss();
      CheckpointState st = checkpoint_state(moments);
      save_checkpoint(best_dir(), st, 1);
      write_best_record();
      std::printf("elbo: best validation loss %.4f at step %lld: %s\n", r.loss(), static_cast<long long>(step_),
                  checkpoint_path(best_dir(), step_).c_str());
      std::fflush(stdout);
    }
    return true;
  }

  std::string best_dir() const { return cfg_.run.dir + "/best"; }

  // run.dir/best/best.json: the step and validation loss of the kept best checkpoint,
  // read back at a resume so that the best is not forgotten.
  void write_best_record() const {
    const std::string path = best_dir() + "/best.json", tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    ELBO_CHECK(f, "cannot write " << tmp);
    std::fprintf(f, "{\"step\": %lld, \"val_loss\": %.9g, \"checkpoint\": \"%s\"}\n", static_cast<long long>(step_),
                 best_valid_loss_, checkpoint_path(best_dir(), step_).c_str());
    std::fclose(f);
    ELBO_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename " << tmp << " to " << path);
  }

  void read_best_record() {
    std::FILE* f = std::fopen((best_dir() + "/best.json").c_str(), "r");
    if (!f) return;
    long long step = 0;
    double loss = 0.0;
    if (std::fscanf(f, "{\"step\": %lld, \"val_loss\": %lf", &step, &loss) == 2 && std::isfinite(loss))
      best_valid_loss_ = loss;
    std::fclose(f);
  }

  void check_test_set(int64_t train_dim) {
    ELBO_CHECK(!cfg_.model.conditional || data_.has_labels,
               "model.conditional: data.train " << cfg_.data.train
                                                << " holds no labels (convert it with elbo data convert --labels)");
    if (cfg_.model.conditional) check_label_range(data_, cfg_.model.classes, "data.train");
    if (!cfg_.data.valid.empty()) {
      try {
        valid_ = open_shard_set(cfg_.data.valid);
      } catch (const Error& e) {
        ELBO_FAIL("data.valid: " << e.what());
      }
      ELBO_CHECK(valid_.channels == data_.channels && valid_.height == data_.height && valid_.width == data_.width,
                 "data.valid: " << cfg_.data.valid << " holds images of " << valid_.channels << "x" << valid_.height
                                << "x" << valid_.width << ", data.train holds " << data_.channels << "x"
                                << data_.height << "x" << data_.width);
      ELBO_CHECK(!cfg_.model.conditional || valid_.has_labels,
                 "model.conditional: data.valid " << cfg_.data.valid << " holds no labels");
      if (cfg_.model.conditional) check_label_range(valid_, cfg_.model.classes, "data.valid");
    }
    if (cfg_.data.test.empty()) return;
    ShardSetInfo test;
    try {
      test = open_shard_set(cfg_.data.test);
    } catch (const Error& e) {
      ELBO_FAIL("data.test: " << e.what());
    }
    (void)train_dim;
    ELBO_CHECK(!cfg_.model.conditional || test.has_labels,
               "model.conditional: data.test " << cfg_.data.test
                                               << " holds no labels (convert it with elbo data convert --labels)");
    if (cfg_.model.conditional) check_label_range(test, cfg_.model.classes, "data.test");
    ELBO_CHECK(test.channels == data_.channels && test.height == data_.height && test.width == data_.width,
               "data.test: " << cfg_.data.test << " holds images of " << test.channels << "x" << test.height << "x"
                             << test.width << ", data.train " << cfg_.data.train << " holds " << data_.channels
                             << "x" << data_.height << "x" << data_.width << " (the model needs one image shape)");
  }

  // <run.dir>/progress: the last step rank 0 logged, so that a resume after a hard kill
  // can say how many steps were lost since the newest checkpoint, instead of silently
  // training them again.
  void write_progress() {
    const std::string path = cfg_.run.dir + "/progress", tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f) return;  // information only: never stop training for it
    std::fprintf(f, "step %lld\n", static_cast<long long>(step_));
    std::fclose(f);
    std::rename(tmp.c_str(), path.c_str());
  }

  int64_t read_progress() const {
    std::FILE* f = std::fopen((cfg_.run.dir + "/progress").c_str(), "r");
    if (!f) return -1;
    long long step = -1;
    if (std::fscanf(f, "step %lld", &step) != 1) step = -1;
    std::fclose(f);
    return step;
  }

  void save(const char* why) {
    watchdog_->beat(step_, "checkpoint");
    require_finite("checkpoint");
    require_identical_replicas();
    watchdog_->beat(step_, "checkpoint");
    const HostMoments moments = gather_moments(mpi_, *replica_.backend, *adam_);  // whole on rank 0
    if (mpi_.is_root()) {
      CheckpointState st = checkpoint_state(moments);
      save_checkpoint(cfg_.run.dir, st, cfg_.train.keep_checkpoints,
                      [this] { fault_.in_checkpoint(mpi_.rank(), step_); });
      std::printf("elbo: checkpoint %s (%s)\n", checkpoint_path(cfg_.run.dir, step_).c_str(), why);
      std::fflush(stdout);
    }
    mpi_.barrier();
    last_checkpoint_step_ = step_;
    last_save_time_ = Clock::now();
  }

  // The replica's state as a checkpoint holds it (rank 0 calls it, with the moments it gathered).
  CheckpointState checkpoint_state(const HostMoments& moments) {
    CheckpointState st;
    capture_state(*replica_.backend, replica_.model->params(), &moments, st, &program_->weight_average());
    const UpdateGuard::Counts skipped = program_->guard().counts();
    st.skipped_nonfinite = skipped.nonfinite;
    st.skipped_over_threshold = skipped.over_threshold;
    st.step = step_;
    st.cursor = cursor_;
    st.epoch = cursor_ / data_.count;
    st.seed = cfg_.run.seed;
    st.world_size = mpi_.world();
    st.config_yaml = config_to_yaml(cfg_);
    st.model_config_yaml = model_config_to_yaml(cfg_.model);
    st.sample = data_.sample_shape();
    return st;
  }

  // Rank 0 finds the newest valid checkpoint and sends its state to every rank.
  void resume() {
    Backend& be = *replica_.backend;
    ParamStore& ps = replica_.model->params();
    std::string error;
    int64_t header[4] = {0, 0, 0, 0};  // found, step, skipped (non-finite, over threshold); cursor follows
    int64_t cursor = 0;
    HostMoments moments;  // rank 0's, whole: each rank keeps its shard (scatter_moments)
    if (mpi_.is_root()) {
      try {
        ResumeResult rr = find_latest_valid_checkpoint(cfg_.run.dir);
        for (const std::string& w : rr.warnings) std::fprintf(stderr, "elbo: warning: %s\n", w.c_str());
        if (rr.found) {
          const std::string want = model_config_to_yaml(cfg_.model);
          ELBO_CHECK(rr.state.model_config_yaml == want,
                     "checkpoint " << rr.path << " was written for another model:\n--- checkpoint model ---\n"
                                   << rr.state.model_config_yaml << "--- model in use ---\n"
                                   << want << "Use a new run.dir, or the model section the checkpoint was made with.");
          check_checkpoint_sample_shape(rr.state, rr.path, data_.sample_shape(), "data.train", cfg_.data.train);
          WeightAverage& ema = program_->weight_average();
          if (!restore_state(rr.state, rr.path, be, ps, &moments, &ema) && ema.enabled())
            std::fprintf(stderr, "elbo: warning: %s holds no weight average (train.ema_decay was 0 when it was "
                                 "written); the average starts from its parameters\n", rr.path.c_str());
          header[0] = 1;
          header[1] = rr.state.step;
          header[2] = rr.state.skipped_nonfinite;
          header[3] = rr.state.skipped_over_threshold;
          cursor = rr.state.cursor;
          std::printf("elbo: resuming from %s (step %lld, sample cursor %lld, written by %d %s)\n",
                      rr.path.c_str(), static_cast<long long>(rr.state.step), static_cast<long long>(cursor),
                      rr.state.world_size, rr.state.world_size == 1 ? "rank" : "ranks");
        }
        const int64_t reached = read_progress(), from = rr.found ? rr.state.step : 0;
        if (reached > from)
          std::fprintf(stderr,
                       "elbo: warning: the previous run had reached step %lld, but its newest checkpoint is of step "
                       "%lld: %lld steps are trained again (it ended without writing a checkpoint: a hard kill, a "
                       "second interrupt or a failure; train.checkpoint_every and train.checkpoint_minutes bound "
                       "this)\n",
                       static_cast<long long>(reached), static_cast<long long>(from),
                       static_cast<long long>(reached - from));
      } catch (const Error& e) {
        error = e.what();
      }
    }
    mpi_.broadcast(error);
    if (!error.empty()) throw AgreedError(error);
    mpi_.broadcast(header, sizeof header);
    mpi_.broadcast(&cursor, sizeof cursor);
    if (!header[0]) return;
    replica_.comm->broadcast(ps.params(), ps.total(), 0);
    scatter_moments(mpi_, be, *adam_, moments);
    WeightAverage& ema = program_->weight_average();
    if (ema.enabled()) replica_.comm->broadcast(ema.values(), ema.size(), 0);
    program_->guard().restore_counts(UpdateGuard::Counts{header[2], header[3]});
    skipped_at_last_log_ = program_->guard().counts();
    step_ = header[1];
    last_checkpoint_step_ = step_;
    cursor_ = cursor;
    adam_->set_steps_done(step_);
  }

  // A latent dimension counts as active in the progress line when its batch-mean KL is
  // at least this many nats; a run whose whole KL stays under kCollapsedKlNats after the
  // KL warm-up gets a warning (the decoder ignores z: posterior collapse).
  static constexpr double kKlActiveNats = 0.01, kCollapsedKlNats = 0.1;
  void warn_if_collapsed(double kl, int active_dims) {
    if (collapse_warned_ || step_ <= std::max(objective_.kl_warmup_steps, cfg_.train.log_every)) return;
    if (kl >= kCollapsedKlNats && active_dims > 0) return;
    collapse_warned_ = true;
    std::fprintf(stderr,
                 "elbo: warning: posterior collapse at step %lld: the KL is %.4f nats per image and %d latent "
                 "dimensions carry more than %.2f nats; the decoder ignores z. Try train.kl_warmup_steps, "
                 "train.free_bits, a smaller train.beta or a weaker decoder (docs/models.md)\n",
                 static_cast<long long>(step_), kl, active_dims, kKlActiveNats);
    std::fflush(stderr);
  }

  // A hierarchical model can lose whole groups while the total KL looks healthy: each
  // group whose KL stays under kCollapsedKlNats after the warm-up is named once.
  void warn_if_groups_collapsed(const std::vector<double>& kl_groups) {
    if (step_ <= std::max(objective_.kl_warmup_steps, cfg_.train.log_every)) return;
    group_collapse_warned_.resize(kl_groups.size(), false);
    for (size_t l = 0; l < kl_groups.size(); ++l) {
      if (group_collapse_warned_[l] || kl_groups[l] >= kCollapsedKlNats) continue;
      group_collapse_warned_[l] = true;
      std::fprintf(stderr,
                   "elbo: warning: stochastic group %zu (0 = top) has collapsed at step %lld: its KL is %.4f nats per "
                   "image; the model ignores it. Try train.kl_balance, train.free_bits with train.free_bits_per: "
                   "group, or a longer train.kl_warmup_steps (docs/models.md ## hvae)\n",
                   l, static_cast<long long>(step_), kl_groups[l]);
    }
    std::fflush(stderr);
  }

  // VDVAE's users met a skip threshold that skipped every update for days without a
  // word: more than train.skip_alarm_share of an interval skipped is said loudly, each time.
  void raise_skip_alarm(int64_t skipped, int64_t steps, const UpdateGuard::Counts& total) const {
    std::fflush(stdout);  // after the progress line it belongs to
    std::fprintf(stderr,
                 "elbo: ALARM: %lld of the %lld steps up to step %lld were skipped (more than train.skip_alarm_share "
                 "= %.2f); in the whole run %lld for a NaN or infinity, %lld for a gradient norm over "
                 "train.skip_threshold = %g. The model is not learning from those steps: %s\n",
                 static_cast<long long>(skipped), static_cast<long long>(steps), static_cast<long long>(step_),
                 double(cfg_.train.skip_alarm_share), static_cast<long long>(total.nonfinite),
                 static_cast<long long>(total.over_threshold), double(cfg_.train.skip_threshold),
                 total.over_threshold > total.nonfinite
                     ? "raise train.skip_threshold (the norms are in the metrics as grad_norm) or lower train.lr"
                     : "lower train.lr, set train.grad_clip, or check the data (the warnings above name bad samples)");
    std::fflush(stderr);
  }

  const Config& cfg_;
  MpiContext& mpi_;
  FaultInjection fault_;
  Objective objective_;
  bool collapse_warned_ = false;
  std::vector<bool> group_collapse_warned_;
  ShardSetInfo data_;
  Replica replica_;
  std::unique_ptr<Adam> adam_;
  std::unique_ptr<DataLoader> loader_;
  std::unique_ptr<GradReducer> reducer_;
  std::unique_ptr<MetricsWriter> metrics_;
  Watchdog* watchdog_ = nullptr;
  std::unique_ptr<StepProgram> program_;
  std::unique_ptr<UploadStaging> staging_;
  bool graph_reported_ = false;
  DeviceBuffer finite_flags_;
  std::string bad_input_;
  ShardSetInfo valid_;
  ValidationResult last_valid_;
  int64_t last_valid_step_ = -1;
  double best_valid_loss_ = std::numeric_limits<double>::infinity();
  int condition_dim_ = 0;  // classes of a conditional model, else 0  // this rank's first non-finite input, described; empty while none
  int local_rows_ = 0;
  int64_t steps_total_ = 0, step_ = 0, cursor_ = 0, last_log_step_ = 0;
  int64_t last_checkpoint_step_ = -1;  // -1: none written or resumed from yet
  UpdateGuard::Counts skipped_at_last_log_;  // the guard's counts at the last log line
  double data_wait_s_ = 0.0, comm_wait_s_ = 0.0;
  Clock::time_point last_log_time_, last_save_time_;
  int64_t timed_steps_ = 0;    // steps timed by this process (a rate needs log_every of them)
  double wall_base_s_ = 0.0;   // wall_s of the last record kept at a resume
  Clock::time_point train_start_;
};

}  // namespace

TrainOutcome train(const Config& config, MpiContext& mpi) {
  auto trainer = std::make_unique<Trainer>(config, mpi);
  try {
    return trainer->run();
  } catch (const AgreedError&) {
    throw;  // every rank is here: tearing down together is safe
  } catch (...) {
    // This rank alone failed. Its trainer is deliberately not destroyed: the
    // destructors of its communicator and reducer are collectives (window free,
    // pending all-reduces) that the other ranks, still inside a step, would never
    // join, so unwinding would hang before the error is printed. The caller prints
    // the error and ends the job; the OS reclaims the memory.
    (void)trainer.release();
    throw;
  }
}

}  // namespace elbo
