#include "elbo/train/step_program.h"

#include <algorithm>
#include <exception>

#include "elbo/dist/mpi_context.h"
#include "elbo/error.h"
#include "elbo/kernels/philox.h"

namespace elbo {

GraphVote combine_graph_votes(const std::vector<GraphVote>& votes) {
  GraphVote all;
  bool named[3] = {true, false, false};  // whether a rank with that status was named; kOk never is
  for (size_t r = 0; r < votes.size(); ++r) {
    const GraphVote& v = votes[r];
    all.status = std::max(all.status, v.status);
    if (named[int(v.status)]) continue;
    named[int(v.status)] = true;
    if (!all.reason.empty()) all.reason += "; ";
    const std::string rank = "rank " + std::to_string(r) + ": ";
    const std::string reason = v.reason.empty() ? std::string("no reason given") : v.reason;
    all.reason += reason.rfind(rank, 0) == 0 ? reason : rank + reason;  // NCCL's errors name the rank already
  }
  return all;
}

GraphAgreement mpi_graph_agreement(const MpiContext& mpi) {
  return [&mpi](const GraphVote& mine) {
    const std::vector<uint64_t> statuses = mpi.allgather(uint64_t(mine.status));
    std::vector<GraphVote> votes(statuses.size());
    for (size_t r = 0; r < votes.size(); ++r) votes[r].status = GraphStatus(int(statuses[r]));
    // Only the reasons that combine_graph_votes() reports travel: the first rank's of each status.
    for (GraphStatus s : {GraphStatus::kFailed, GraphStatus::kCommunicatorLost}) {
      const auto first = std::find_if(votes.begin(), votes.end(), [s](const GraphVote& v) { return v.status == s; });
      if (first == votes.end()) continue;
      const int root = int(first - votes.begin());
      std::string reason = root == mpi.rank() ? mine.reason : std::string();
      mpi.broadcast(reason, root);
      first->reason = reason;
    }
    return combine_graph_votes(votes);
  };
}

StepProgram::StepProgram(Backend& be, VaeModel& model, Adam& adam, GradReducer* reducer, const StepShape& shape)
    : be_(be),
      model_(model),
      adam_(adam),
      reducer_(reducer),
      shape_(shape),
      input_(&be, kStepScalarFloats + size_t(shape.rows) * size_t(shape.dim + shape.condition_dim)),
      loss_step_(&be, LossSums::size(model.latent_dim(), model.kl_groups())),
      loss_acc_(&be, LossSums::size(model.latent_dim(), model.kl_groups())),
      loss_total_(&be, 1),
      guard_(be, shape.update_rule, model.params().total()),
      ema_(be, model.params().total(), shape.ema_decay) {
  ema_.start_from(model.params().params());
  if (shape.weigh_kl_groups) {
    const int groups = model.kl_groups();
    kl_group_global_ = DeviceBuffer(&be, size_t(groups));
    kl_group_weights_ = DeviceBuffer(&be, size_t(groups));
    kl_group_dims_ = DeviceBuffer(&be, size_t(groups));
    std::vector<float> dims(static_cast<size_t>(groups));
    for (int l = 0; l < groups; ++l) dims[size_t(l)] = float(model.group_dim(l));
    be.copy_to_device(kl_group_dims_.data(), dims.data(), dims.size());
    be.synchronize();
  }
  ELBO_CHECK(shape.rows > 0 && shape.dim > 0 && shape.global_batch > 0,
             "StepProgram: rows, dim and global batch must be positive");
  if (shape.free_bits > 0.0f) {
    kl_dim_global_ = DeviceBuffer(&be, size_t(model.latent_dim()));
    kl_dim_gates_ = DeviceBuffer(&be, size_t(model.latent_dim()));
  }
}

void StepProgram::gate_kl_dimensions() {
  const int latent = model_.latent_dim();
  float* local = loss_step_.data() + LossSums::kKlDims;  // this rank's rows, also logged
  be_.distributions().kl_dim_sums(local, model_.posterior_stats(), shape_.rows, latent);
  if (shape_.free_bits <= 0.0f) return;
  // The gate of a dimension depends on its mean over the global batch: the same on every
  // rank, and the same for any number of ranks.
  be_.copy(kl_dim_global_.data(), local, size_t(latent));
  if (reducer_) allreduce_in_step(kl_dim_global_.data(), size_t(latent));
  be_.distributions().free_bits_gates(kl_dim_gates_.data(), kl_dim_global_.data(), latent,
                                      1.0f / float(shape_.global_batch), shape_.free_bits);
  model_.set_kl_dim_gates(kl_dim_gates_.data());
}

StepScalars StepProgram::scalars(int64_t step, uint64_t noise_serial, float kl_weight) const {
  StepScalars s;
  s.noise_serial = noise_serial;
  s.sample_serial = noise_serial * uint64_t(shape_.samples_per_image);
  // The same float product the eager trainer always used: weight_t * (1 / B).
  s.kl_weight = kl_weight * (1.0f / float(shape_.global_batch));
  s.log_ratio_weight = kl_weight;
  adam_.step_scalars(step + 1, s.adam);
  return s;
}

void StepProgram::enqueue(bool measure_norm) {
  ParamStore& ps = model_.params();
  const StepScalars* sc = device_scalars();
  float* x = batch();
  phase("forward/backward");
  if (shape_.dynamic_binarize)
    be_.binarize(x, shape_.rows, shape_.dim, NoiseKey{shape_.seed, kRngBinarize, 0, 0, &sc->noise_serial});
  be_.fill(ps.grads(), ps.total(), 0.0f);
  if (shape_.condition_dim > 0) model_.set_condition(condition());
  model_.set_log_ratio_weight(&sc->log_ratio_weight);
  model_.forward(be_, x, shape_.rows, NoiseKey{shape_.seed, kRngReparam, 0, 0, &sc->sample_serial});
  gate_kl_dimensions();
  sum_step_losses();
  weigh_kl_groups();
  // The step's health rides with the gradients: this rank's input fault (0 or NaN) plus
  // 0 x its loss (NaN exactly when the loss is not finite). The all-reduce sums it over
  // the ranks before the guard reads it.
  float* health = ps.step_health();
  be_.copy(health, &sc->input_fault, 1);
  be_.sum(loss_total_.data(), loss_step_.data(), loss_step_.size());
  be_.axpy(health, loss_total_.data(), 1, 0.0f);
  // Gradients of the global-batch mean: each rank sums its rows / B, the all-reduce adds ranks.
  const float inv_b = 1.0f / float(shape_.global_batch);
  if (reducer_) reducer_->begin_step();
  model_.backward(be_, x, shape_.rows, inv_b, Weight(1.0f, &sc->kl_weight), [this](size_t offset) {
    if (reducer_) reducer_->ready_from(offset);
  });
  const bool scattered = reducer_ && reducer_->scatters();
  phase(scattered ? "gradient reduce-scatter" : "gradient all-reduce");
  if (reducer_) reducer_->finish();
  phase("optimizer");
  if (scattered)  // ZeRO-1: this rank holds its shard's sums, and its own health
    guard_.decide_sharded(ps.grads(), adam_.shard(), health, measure_norm,
                          [this](float* buf, size_t n) { allreduce_in_step(buf, n); });
  else
    guard_.decide(ps.grads(), health, measure_norm);
  adam_.step(ps.params(), ps.grads(), sc->adam, guard_.gate());
  if (adam_.sharded()) {
    // ZeRO-1 (dist.zero): this rank updated its shard only; every rank takes the others'.
    phase("parameter all-gather");
    ELBO_CHECK(reducer_, "a sharded optimizer needs the communicator of a reducer");
    reducer_->communicator().allgather_shards(ps.params(), ps.total());
  }
  ema_.update(ps.params(), guard_.gate());
  // Loss sums stay on the device until the next log line; a skipped step's stay out.
  be_.add_unless_skipped(loss_acc_.data(), loss_step_.data(), loss_step_.size(), guard_.gate());
}

// A blocking all-reduce would wait on the host for an event of a stream being captured
// (NCCL: cudaErrorCapturedEvent, and the communicator aborts); started and then waited for
// on the stream, it can be recorded into the step's graph like the gradient buckets.
void StepProgram::allreduce_in_step(float* buf, size_t n) {
  Communicator& comm = reducer_->communicator();
  comm.allreduce_sum_async(buf, n);
  comm.wait_all();
}

void StepProgram::weigh_kl_groups() {
  if (!shape_.weigh_kl_groups) return;
  const int groups = model_.kl_groups();
  const float* local = loss_step_.data() + LossSums::kl_groups_at(model_.latent_dim());
  // The weights depend on the global batch: the same on every rank, for any number of ranks.
  be_.copy(kl_group_global_.data(), local, size_t(groups));
  if (reducer_) allreduce_in_step(kl_group_global_.data(), size_t(groups));
  KlGroupRule rule;
  rule.inv_count = 1.0f / float(shape_.global_batch);
  rule.free_bits = shape_.group_free_bits;
  rule.kl_weight = &device_scalars()->kl_weight;
  rule.balance = &device_scalars()->kl_balance;
  be_.distributions().kl_group_weights(kl_group_weights_.data(), kl_group_global_.data(), kl_group_dims_.data(), groups,
                                       rule);
  model_.set_kl_group_weights(kl_group_weights_.data());
}

void StepProgram::sum_step_losses() {
  be_.sum(loss_step_.data() + LossSums::kRecon, model_.recon_per_row(), shape_.rows);
  be_.sum(loss_step_.data() + LossSums::kKl, model_.kl_per_row(), shape_.rows);
  if (const float* lmw = model_.log_mean_weight_per_row())
    be_.sum(loss_step_.data() + LossSums::kLogMeanWeight, lmw, shape_.rows);
  if (const float* tc = model_.tc_per_row()) be_.sum(loss_step_.data() + LossSums::kTc, tc, shape_.rows);
  float* group_sums = loss_step_.data() + LossSums::kl_groups_at(model_.latent_dim());
  for (int l = 0; l < model_.kl_groups(); ++l)
    if (const float* kl = model_.kl_group_per_row(l)) be_.sum(group_sums + l, kl, shape_.rows);
}

GraphVote StepProgram::capture() {
  // Releasing memory alive from here on invalidates the graph (graph_memory.h).
  const uint64_t generation = be_.graph_generation();
  if (!be_.capture_begin()) return {GraphStatus::kFailed, "the backend cannot capture graphs"};
  // Capturing records the work without running it; the caller replays it for this step.
  const int64_t t = adam_.steps_done();
  GraphVote vote;
  try {
    enqueue(/*measure_norm=*/true);
    be_.capture_end();
    ++captures_;
    graph_generation_ = generation;
  } catch (const std::exception& e) {
    be_.capture_abort();
    // NCCL aborts its communicator on an error, also on one while capturing: then no
    // rank can go on, since every step needs this rank's collectives.
    const bool lost = reducer_ && !reducer_->communicator().usable();
    vote = {lost ? GraphStatus::kCommunicatorLost : GraphStatus::kFailed, e.what()};
  }
  adam_.set_steps_done(t);
  return vote;
}

void StepProgram::settle_capture(const GraphVote& mine, const GraphVote& all) {
  if (all.status == GraphStatus::kOk) {
    graph_ready_ = true;
    return;
  }
  // Collectives must be in graphs on every rank or on none: a graph captured here goes too.
  if (mine.status == GraphStatus::kOk) be_.release_graph();
  graph_given_up_ = true;
  graph_failure_ = all.reason;  // "rank R: ..." when agreed
  if (all.status == GraphStatus::kCommunicatorLost) {
    const std::string message = "capturing the training step as a CUDA graph failed and left the communicator "
                                "unusable, so training cannot go on: " +
                                graph_failure_ + ". Set train.cuda_graph: false to train without CUDA graphs.";
    if (agreement_) throw AgreedError(message);  // every rank throws it, rank 0 prints it
    throw Error(rank_prefix() + message);
  }
  if (!reducer_) return;
  // The communicator took part in captures that were thrown away, and not alike on
  // every rank: check that it still works before an eager step relies on it (a
  // barrier fails or times out with NCCL's reason rather than hang a later step).
  phase("data-plane check after a failed CUDA graph capture");
  try {
    reducer_->communicator().barrier();
  } catch (const std::exception& e) {
    ELBO_FAIL(rank_prefix() << "the data plane does not work after the failed CUDA graph capture (" << graph_failure_
                            << "): " << e.what());
  }
}

void StepProgram::drop_graph() {
  graph_ready_ = false;
  be_.release_graph();
}

std::string StepProgram::rank_prefix() const {
  return reducer_ ? "rank " + std::to_string(reducer_->communicator().rank()) + ": " : std::string();
}

void StepProgram::revalidate_graph() {
  if (!graph_ready_) return;  // the same on every rank: it was agreed
  GraphVote mine;
  if (graph_stale()) mine = {GraphStatus::kFailed, "device memory its CUDA graph may read was released"};
  if (agree(mine).status == GraphStatus::kOk) return;
  drop_graph();  // on every rank: the next run() captures again
}

void StepProgram::run(bool measure_norm) {
  if (graph_stale()) {
    // Replaying would read and write memory that is no longer the graph's buffers.
    ELBO_CHECK(!agreement_, rank_prefix() << "device memory that the captured CUDA graph of the training step may "
                                             "read was released after the capture (device work outside the step, "
                                             "such as a bigger sampling pass, reallocated a buffer); replaying could "
                                             "use freed memory, and the ranks must capture again together: call "
                                             "StepProgram::revalidate_graph() on every rank after such work");
    drop_graph();  // captured again just below
  }
  if (!graph_ready_ && graph_allowed_ && !graph_given_up_ && eager_steps_ >= 1) {
    const GraphVote mine = capture();
    // Named for the watchdog: a rank may wait here while a peer's NCCL call times out.
    phase("CUDA graph agreement");
    settle_capture(mine, agree(mine));
  }
  if (graph_ready_) {
    adam_.set_steps_done(adam_.steps_done() + 1);  // the replayed Adam step, counted on the host
    phase("graph replay");
    be_.replay();
    return;
  }
  enqueue(measure_norm);
  ++eager_steps_;
}

StepProgram::~StepProgram() {
  if (!graph_ready_) return;
  try {
    be_.release_graph();
  } catch (const std::exception& e) {
    report_cleanup_error("releasing the CUDA graph of the training step", e.what());
  }
}

}  // namespace elbo
