#include "elbo/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
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
#include "elbo/train/replica.h"
#include "elbo/train/sample_grids.h"
#include "elbo/train/signals.h"
#include "elbo/train/step_program.h"
#include "elbo/train/training_state.h"
#include "elbo/train/watchdog.h"

namespace elbo {

int64_t total_steps(const Config& config, int64_t dataset_count) {
  if (config.train.steps > 0) return config.train.steps;
  return std::max<int64_t>(1, config.train.epochs * dataset_count / config.train.global_batch);
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// KL weight of a step: linear warm-up from 0 to beta over kl_warmup_steps.
float kl_weight_at(const TrainConfig& t, int64_t step) {
  if (t.kl_warmup_steps <= 0) return t.beta;
  double ramp = std::min(1.0, double(step + 1) / double(t.kl_warmup_steps));
  return float(t.beta * ramp);
}

// Page-locked host buffers for the step's upload (StepScalars, then the batch), used
// in turn. Before a buffer is refilled the host waits for the marker enqueued after its
// last upload, so an asynchronous copy never reads a half-rewritten buffer and the host
// runs at most one step ahead of the device.
class UploadStaging {
 public:
  UploadStaging(Backend& be, size_t batch_floats) : be_(be), n_(kStepScalarFloats + batch_floats) {
    for (float*& b : buffers_) b = be.alloc_host_staging(n_);
  }
  ~UploadStaging() {
    be_.synchronize();
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
  Trainer(const Config& config, MpiContext& mpi) : cfg_(config), mpi_(mpi), fault_(FaultInjection::from_env()) {}

  TrainOutcome run() {
    ELBO_CHECK(cfg_.train.global_batch % mpi_.world() == 0,
               "train.global_batch = " << cfg_.train.global_batch << " is not divisible by the world size "
                                       << mpi_.world() << " (each rank takes an equal slice; choose a multiple of "
                                       << mpi_.world() << ")");
    mpi_.require_same(crc32_bytes(config_to_yaml(cfg_).data(), config_to_yaml(cfg_).size()), "the configuration");
    data_ = open_shard_set(cfg_.data.train);
    const int64_t dim = data_.sample_dim();
    replica_ = make_replica(cfg_, mpi_, int(dim));
    Backend& be = *replica_.backend;
    ParamStore& ps = replica_.model->params();
    adam_ = std::make_unique<Adam>(be, ps.total(), cfg_.train);
    local_rows_ = int(cfg_.train.global_batch / mpi_.world());
    steps_total_ = total_steps(cfg_, data_.count);

    if (mpi_.is_root()) {
      std::filesystem::create_directories(cfg_.run.dir);
      std::printf("elbo: %d rank(s), replica on %s [%s], data plane %s, %zu parameters\n", mpi_.world(),
                  be.device().str().c_str(), be.name().c_str(), replica_.comm->name().c_str(), ps.total());
      std::printf("elbo: effective configuration\n%s", config_to_yaml(cfg_).c_str());
      std::fflush(stdout);
    }
    resume();

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

    staging_ = std::make_unique<UploadStaging>(be, size_t(local_rows_) * dim);
    reducer_ = std::make_unique<GradReducer>(*replica_.comm, ps.grads(), ps.total(),
                                             std::max<size_t>(1, size_t(cfg_.dist.bucket_mb * 262144.0)));
    StepShape shape;
    shape.rows = local_rows_;
    shape.dim = int(dim);
    shape.global_batch = cfg_.train.global_batch;
    shape.seed = cfg_.run.seed;
    shape.dynamic_binarize = cfg_.data.binarize == "dynamic";
    program_ = std::make_unique<StepProgram>(be, *replica_.model, *adam_, reducer_.get(), shape);
    program_->set_phase_hook([this](const char* phase) {
      if (watchdog_) watchdog_->beat(step_, phase);
    });
    // A graph needs a backend that captures (CUDA) and collectives it can record (NCCL).
    program_->allow_graph(cfg_.train.cuda_graph && be.device().is_cuda() && replica_.comm->capturable(),
                          [this](bool ok) { return mpi_.allreduce_max(ok ? 0 : 1) == 0; });
    if (mpi_.is_root())
      metrics_ = std::make_unique<MetricsWriter>(cfg_.run.dir + "/metrics." + (cfg_.train.metrics_format == "csv" ? "csv" : "jsonl"),
                                                 cfg_.train.metrics_format, step_);
    install_stop_signal_handlers();
    Watchdog watchdog(mpi_, cfg_.dist.timeout_s);
    watchdog_ = &watchdog;

    TrainOutcome outcome;
    last_log_time_ = Clock::now();
    last_log_step_ = step_;
    while (step_ < steps_total_) {
      train_step();
      if (step_ % cfg_.train.log_every == 0 || step_ == steps_total_) log_progress();
      fault_.after_step(mpi_.rank(), step_);
      watchdog.beat(step_, "stop-flag agreement");
      const bool stop = mpi_.allreduce_max(stop_signal_received() ? 1 : 0) != 0;
      if (stop) {
        save(/*final_message=*/"stop signal");
        if (mpi_.is_root())
          std::printf("elbo: stopped by signal at step %lld; checkpoint written. Re-run the same command to resume.\n",
                      static_cast<long long>(step_));
        outcome.stopped_by_signal = true;
        break;
      }
      if (cfg_.train.checkpoint_every > 0 && step_ % cfg_.train.checkpoint_every == 0 && step_ < steps_total_)
        save("interval");
    }
    if (!outcome.stopped_by_signal) {
      save("end of training");
      watchdog.beat(step_, "sample grids");
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
    const uint64_t serial0 = uint64_t(batch.cursor + batch.local_offset);  // world-size independent noise counters
    staging_->upload(program_->step_input(), program_->scalars(step_, serial0, kl_weight_at(cfg_.train, step_)),
                     batch.images);
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
    float acc[2], sumsq = 0.0f;
    be.copy_to_host(acc, program_->loss_sums(), 2);
    be.copy_to_host(&sumsq, adam_->grad_sumsq(), 1);
    program_->reset_loss_sums();
    watchdog_->beat(step_, "metrics all-reduce");
    double sums[3] = {acc[0], acc[1], data_wait_s_};
    mpi_.allreduce_sum(sums, 3);
    const int64_t steps = step_ - last_log_step_;
    const double n = double(steps) * double(cfg_.train.global_batch);
    const double recon = sums[0] / n, kl = sums[1] / n, loss = recon + kl;
    const double elapsed = seconds_since(last_log_time_);
    const double rate = n / std::max(elapsed, 1e-9);
    const double eta = double(steps_total_ - step_) * cfg_.train.global_batch / std::max(rate, 1e-9);
    const double epoch = double(cursor_) / double(data_.count);
    ELBO_CHECK(std::isfinite(loss), "non-finite loss (" << loss << ") at step " << step_
                                                        << "; training stopped, the last checkpoint is kept. Lower "
                                                           "train.lr or set train.grad_clip");
    if (mpi_.is_root()) {
      std::printf("step %lld/%lld  epoch %.2f  loss %.4f  recon %.4f  kl %.4f  |g| %.3f  %.0f samples/s  eta %s\n",
                  static_cast<long long>(step_), static_cast<long long>(steps_total_), epoch, loss, recon, kl,
                  std::sqrt(double(sumsq)), rate, format_duration(eta).c_str());
      std::fflush(stdout);
      MetricsRecord r;
      r.step = step_;
      r.values = {{"epoch", epoch},
                  {"loss", loss},
                  {"recon", recon},
                  {"kl", kl},
                  {"kl_weight", kl_weight_at(cfg_.train, step_ - 1)},
                  {"grad_norm", std::sqrt(double(sumsq))},
                  {"lr", cfg_.train.lr},
                  {"samples_per_s", rate},
                  {"data_wait_s", sums[2] / mpi_.world()},
                  {"comm_wait_s", comm_wait_s_},
                  {"elapsed_s", elapsed}};
      metrics_->write(r);
    }
    data_wait_s_ = 0.0;
    comm_wait_s_ = 0.0;
    last_log_step_ = step_;
    last_log_time_ = Clock::now();
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

  static std::string format_duration(double s) {
    char buf[32];
    long t = long(s + 0.5);
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    return buf;
  }

  void save(const char* why) {
    watchdog_->beat(step_, "checkpoint");
    Backend& be = *replica_.backend;
    ParamStore& ps = replica_.model->params();
    // Replicas must be identical; a checksum disagreement means silent divergence.
    std::vector<float> host(ps.total());
    be.copy_to_host(host.data(), ps.params(), host.size());
    mpi_.require_same(crc32_bytes(host.data(), host.size() * sizeof(float)),
                      "the parameters at step " + std::to_string(step_) + " (replicas diverged)");
    if (mpi_.is_root()) {
      CheckpointState st;
      capture_state(be, ps, adam_.get(), st);
      st.step = step_;
      st.cursor = cursor_;
      st.epoch = cursor_ / data_.count;
      st.seed = cfg_.run.seed;
      st.world_size = mpi_.world();
      st.config_yaml = config_to_yaml(cfg_);
      st.model_config_yaml = model_config_to_yaml(cfg_.model);
      save_checkpoint(cfg_.run.dir, st, cfg_.train.keep_checkpoints);
      std::printf("elbo: checkpoint %s (%s)\n", checkpoint_path(cfg_.run.dir, step_).c_str(), why);
      std::fflush(stdout);
    }
    mpi_.barrier();
  }

  // Rank 0 finds the newest valid checkpoint and sends its state to every rank.
  void resume() {
    Backend& be = *replica_.backend;
    ParamStore& ps = replica_.model->params();
    std::string error;
    int64_t header[2] = {0, 0};  // found, step ; cursor follows
    int64_t cursor = 0;
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
          restore_state(rr.state, rr.path, be, ps, adam_.get());
          header[0] = 1;
          header[1] = rr.state.step;
          cursor = rr.state.cursor;
          std::printf("elbo: resuming from %s (step %lld, sample cursor %lld, written by %d rank(s))\n",
                      rr.path.c_str(), static_cast<long long>(rr.state.step), static_cast<long long>(cursor),
                      rr.state.world_size);
        }
      } catch (const Error& e) {
        error = e.what();
      }
    }
    mpi_.broadcast(error);
    ELBO_CHECK(error.empty(), error);
    mpi_.broadcast(header, sizeof header);
    mpi_.broadcast(&cursor, sizeof cursor);
    if (!header[0]) return;
    replica_.comm->broadcast(ps.params(), ps.total(), 0);
    replica_.comm->broadcast(adam_->m(), ps.total(), 0);
    replica_.comm->broadcast(adam_->v(), ps.total(), 0);
    step_ = header[1];
    cursor_ = cursor;
    adam_->set_steps_done(step_);
  }

  const Config& cfg_;
  MpiContext& mpi_;
  FaultInjection fault_;
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
  int local_rows_ = 0;
  int64_t steps_total_ = 0, step_ = 0, cursor_ = 0, last_log_step_ = 0;
  double data_wait_s_ = 0.0, comm_wait_s_ = 0.0;
  Clock::time_point last_log_time_;
};

}  // namespace

TrainOutcome train(const Config& config, MpiContext& mpi) { return Trainer(config, mpi).run(); }

}  // namespace elbo
