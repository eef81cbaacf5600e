// The device work of one training step, in order: dynamic binarization, zeroed
// gradients, forward, the step's loss sums and health, backward (starting the gradient
// all-reduce bucket by bucket), the update guard's decision, the optimiser (sharded with
// dist.zero: then the all-gather of the parameters), the weight average, and the
// interval's loss sums (a skipped step's left out). Everything that changes from step to
// step (the noise serial, the KL warm-up weights, Adam's bias corrections) is read from device
// memory — a StepScalars block uploaded with the batch — so the same enqueued sequence
// is right for every step. It runs eagerly, or, on a backend that can capture (CUDA
// graphs) with a data plane whose collectives can be recorded (NCCL), it is captured
// once and replayed: one graph launch per step instead of dozens of kernel launches.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/dist/grad_reducer.h"
#include "elbo/models/vae_model.h"
#include "elbo/optim/adam.h"
#include "elbo/optim/update_guard.h"
#include "elbo/optim/weight_average.h"

namespace elbo {

class MpiContext;

// Whether a rank has a graph it can replay, after capturing the step or checking that
// its graph is still valid.
enum class GraphStatus : int {
  kOk = 0,                // captured, still valid
  kFailed = 1,            // no graph, but the data plane works: run eagerly
  kCommunicatorLost = 2,  // no graph, and the failure left the communicator unusable
};
struct GraphVote {
  GraphStatus status = GraphStatus::kOk;
  std::string reason;  // why, when not kOk
};
// A collective over the replicas: each rank passes its own vote and every rank gets the
// same answer, combine_graph_votes() of all of them. Replicas whose graphs record
// collectives must all replay or all run eagerly (NCCL's rule), and a rank that lost its
// communicator takes every rank down with it: only an agreement lets them decide alike.
using GraphAgreement = std::function<GraphVote(const GraphVote& mine)>;
// votes[r] is rank r's. The worst status, and as reason "rank R: <reason>" for the first
// rank of each status other than kOk, lowest rank first, joined by "; ".
GraphVote combine_graph_votes(const std::vector<GraphVote>& votes);
// The agreement over MPI (the control plane, which works whatever NCCL's state): an
// all-gather of the statuses, then a broadcast of the reasons of at most two ranks.
GraphAgreement mpi_graph_agreement(const MpiContext& mpi);

// The per-step values, as they sit in device memory at the start of step_input().
struct StepScalars {
  uint64_t noise_serial = 0;      // serial number of this rank's first row in the training stream
  float kl_weight = 0.0f;         // KL weight of the step divided by the global batch
  float adam[3] = {0.0f, 0.0f, 0.0f};  // lr_t / (1 - beta1^t), 1 / sqrt(1 - beta2^t), lr_t
  // The serial of this rank's first sample of z: noise_serial * k with k samples per image
  // (iwae), so that sample t of image i draws serial (image serial) * k + t whatever the
  // number of ranks.
  uint64_t sample_serial = 0;
  // 0, or NaN when the host found a NaN or infinite value in this rank's batch (the
  // step's health: with train.nonfinite: skip every rank then skips the step, also where
  // dynamic binarization would have turned the bad pixel into a plain 0 or 1).
  float input_fault = 0.0f;
  float kl_balance = 0.0f;  // 1 while KL balancing acts (Objective::kl_balance_at), else 0
  // The KL weight of the step itself (not divided by the global batch): the iwae
  // objective's warm-up weighs log p(z) - log q(z|x) in the log-weights by it.
  float log_ratio_weight = 1.0f;
  float unused = 0.0f;  // keeps the block a whole number of 8-byte words
};
constexpr size_t kStepScalarFloats = 12;
static_assert(sizeof(StepScalars) == kStepScalarFloats * sizeof(float), "StepScalars is 12 floats");

struct StepShape {
  int rows = 0;                 // this rank's rows per step
  int dim = 0;                  // values per sample
  int64_t global_batch = 0;     // rows of all ranks: the loss is the global-batch mean
  uint64_t seed = 0;            // run.seed: the Philox key of binarization and reparameterization
  bool dynamic_binarize = false;
  int condition_dim = 0;        // conditional models: one-hot classes per row, after the batch
  float free_bits = 0.0f;       // train.free_bits (train/objective.h); 0: off
  int samples_per_image = 1;    // train.iw_samples with the iwae objective
  bool weigh_kl_groups = false;  // Objective::weighs_groups(): per-group KL weights each step
  float group_free_bits = 0.0f; // train.free_bits with train.free_bits_per: group
  UpdateRule update_rule;       // clipping and skipping (optim/update_guard.h)
  float ema_decay = 0.0f;       // train.ema_decay (optim/weight_average.h); 0: off
};

// The layout of StepProgram::loss_sums(): sums over every image of the steps since the
// last reset, then the KL of each latent dimension of the top group summed likewise, then
// the KL of each stochastic group (hierarchical models; one group otherwise).
struct LossSums {
  static constexpr size_t kRecon = 0, kKl = 1;
  static constexpr size_t kLogMeanWeight = 2;  // iwae: sum of log (1/k) sum_t w_t (0 otherwise)
  static constexpr size_t kTc = 3;             // beta-TCVAE: sum of the total correlation (0 otherwise)
  static constexpr size_t kKlDims = 4;         // latent_dim() values from here
  static size_t kl_groups_at(int latent) { return kKlDims + size_t(latent); }  // kl_groups() values from here
  static size_t size(int latent, int groups) { return kl_groups_at(latent) + size_t(groups); }
};

class StepProgram {
 public:
  // reducer may be null (no all-reduce: a single replica outside the trainer).
  StepProgram(Backend& be, VaeModel& model, Adam& adam, GradReducer* reducer, const StepShape& shape);
  // Releases the graph: before the communicator whose collectives it recorded.
  ~StepProgram();
  StepProgram(const StepProgram&) = delete;
  StepProgram& operator=(const StepProgram&) = delete;

  // Device memory the host uploads into before each step: StepScalars, then the batch
  // (rows x dim floats).
  float* step_input() { return input_.data(); }
  float* batch() { return input_.data() + kStepScalarFloats; }
  // Conditional models: the rows' one-hot classes, uploaded right after the batch.
  float* condition() { return batch() + size_t(shape_.rows) * size_t(shape_.dim); }
  size_t step_input_floats() const { return input_.size(); }

  // The scalars of training step `step` (from 0) whose first row has serial noise_serial.
  StepScalars scalars(int64_t step, uint64_t noise_serial, float kl_weight) const;

  // Allow (or not) capturing the step as a graph. The first step always runs eagerly
  // (it allocates the layers' buffers and warms the libraries up); the second is
  // captured and replayed, and every later one is a replay. A backend that refuses the
  // capture leaves the program eager.
  // agreement, when given (replicas whose graphs record collectives), is asked by every
  // rank after capturing. If every rank captured, all replay. If some rank failed but
  // every communicator still works, all discard their graphs, check the data plane with
  // a barrier, and run eagerly (graph_failure() names the rank and why). If a rank's
  // communicator was lost (NCCL aborted it during the capture), every rank throws the
  // same AgreedError naming that rank and the cause.
  void allow_graph(bool allowed, GraphAgreement agreement = {}) {
    graph_allowed_ = allowed;
    agreement_ = std::move(agreement);
  }
  bool graph_active() const { return graph_ready_; }
  // Why the last attempt to capture failed (empty if none failed).
  const std::string& graph_failure() const { return graph_failure_; }
  // Graphs captured so far (more than one after a re-capture).
  int graph_captures() const { return captures_; }

  // A graph keeps the pointers of the buffers it was captured with, and device work
  // outside the step (sampling or evaluation with more rows) may reallocate them
  // (Backend::graph_generation). run() checks before each replay: without an agreement
  // it captures again; with one it cannot decide alone (all ranks replay or none), so it
  // throws unless revalidate_graph() ran first. revalidate_graph() is a collective when
  // an agreement was given: call it on every rank after such work; if any rank's graph
  // is stale, every rank discards its graph and the next run() captures again.
  void revalidate_graph();

  // Called with the name of each phase as the host reaches it (the trainer's watchdog
  // names the phase a hung step was in).
  void set_phase_hook(std::function<void(const char*)> hook) { phase_hook_ = std::move(hook); }

  // Runs one step on the uploaded input. measure_norm: compute the gradient norm (log
  // steps; a captured step always measures it, the cost of one reduction).
  void run(bool measure_norm);

  // Which steps were applied, and the run's counts of skipped ones.
  UpdateGuard& guard() { return guard_; }
  // The weight average (enabled() when train.ema_decay > 0).
  WeightAverage& weight_average() { return ema_; }

  // Device sums over every row of the steps since the last reset, laid out as LossSums.
  const float* loss_sums() const { return loss_acc_.data(); }
  size_t loss_sums_size() const { return loss_acc_.size(); }
  void reset_loss_sums() { be_.fill(loss_acc_.data(), loss_acc_.size(), 0.0f); }

 private:
  void enqueue(bool measure_norm);
  // Captures the step into the backend's graph; the vote says whether it could.
  GraphVote capture();
  // Acts on the agreed outcome of a capture: replay, eager, or stop.
  void settle_capture(const GraphVote& mine, const GraphVote& all);
  GraphVote agree(const GraphVote& mine) const { return agreement_ ? agreement_(mine) : mine; }
  bool graph_stale() const { return graph_ready_ && be_.graph_generation() != graph_generation_; }
  void drop_graph();
  std::string rank_prefix() const;  // "rank R: " when there is a communicator
  void phase(const char* name) const {
    if (phase_hook_) phase_hook_(name);
  }
  const StepScalars* device_scalars() const { return reinterpret_cast<const StepScalars*>(input_.data()); }

  Backend& be_;
  VaeModel& model_;
  Adam& adam_;
  GradReducer* reducer_;
  StepShape shape_;
  // Free bits: the global batch's KL per latent dimension, then each dimension's gate.
  void gate_kl_dimensions();
  // This rank's sums of the step's loss terms into loss_step_ (laid out as LossSums).
  void sum_step_losses();
  // KL balancing and free bits per group: each group's KL weight from the global batch's
  // KL of every group (an all-reduce of kl_groups() floats), handed to the model.
  void weigh_kl_groups();
  // An all-reduce of a few floats inside the step (capturable; see the definition).
  void allreduce_in_step(float* buf, size_t n);

  DeviceBuffer input_, loss_step_, loss_acc_, kl_dim_global_, kl_dim_gates_, loss_total_;
  DeviceBuffer kl_group_global_, kl_group_dims_, kl_group_weights_;
  UpdateGuard guard_;
  WeightAverage ema_;
  bool graph_allowed_ = false, graph_ready_ = false, graph_given_up_ = false;
  int64_t eager_steps_ = 0;
  int captures_ = 0;
  uint64_t graph_generation_ = 0;  // be_.graph_generation() when the graph was captured
  std::string graph_failure_;
  GraphAgreement agreement_;
  std::function<void(const char*)> phase_hook_;
};

}  // namespace elbo
