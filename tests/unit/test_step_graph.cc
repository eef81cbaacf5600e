// The code around a captured training step, on the CPU: RecordingBackend records and
// replays like a CUDA graph, FakeCommunicator stands for NCCL, and the agreement of
// the other ranks is simulated with combine_graph_votes(). Checks that
//  - a graph whose memory may have been released since its capture (a layer growing its
//    buffers for a bigger sampling pass between steps) is never replayed: it is captured
//    again, or, with several ranks, the ranks re-capture together or stop with an error
//    that says so;
//  - a capture failure that left a rank's communicator unusable stops every rank with
//    one AgreedError naming the rank and the cause, and a harmless failure on any rank
//    sends every rank back to eager steps, after checking the data plane.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "elbo/dist/grad_reducer.h"
#include "elbo/error.h"
#include "elbo/graph_memory.h"
#include "elbo/kernels/philox.h"
#include "elbo/models/vae_model.h"
#include "elbo/optim/adam.h"
#include "elbo/train/step_program.h"
#include "support/recording_backend.h"
#include "support/train_steps.h"

namespace elbo {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(GraphMemoryWatch, OnlyReleasingMemoryOlderThanTheCaptureChangesTheGeneration) {
  GraphMemoryWatch w;
  int a = 0, b = 0, c = 0, d = 0;
  w.allocated(&a);
  w.allocated(&b);
  w.released(&a);  // no capture yet
  EXPECT_EQ(w.generation(), 0u);
  w.capture_began();
  w.allocated(&c);
  w.released(&c);  // younger than the capture: the graph cannot hold it
  w.released(&d);  // never allocated here
  EXPECT_EQ(w.generation(), 0u);
  w.released(&b);  // alive when the capture began
  EXPECT_EQ(w.generation(), 1u);
  w.released(&b);  // already gone
  EXPECT_EQ(w.generation(), 1u);
  // The same address handed out again after the capture is a new allocation.
  w.allocated(&b);
  w.released(&b);
  EXPECT_EQ(w.generation(), 1u);
}

TEST(GraphVotes, WorstStatusAndTheFirstRankOfEachFailure) {
  EXPECT_EQ(combine_graph_votes({{}, {}, {}}).status, GraphStatus::kOk);
  EXPECT_EQ(combine_graph_votes({{}, {}}).reason, "");
  const GraphVote all = combine_graph_votes({{},
                                             {GraphStatus::kFailed, "cuBLAS refused"},
                                             {GraphStatus::kCommunicatorLost, "NCCL: remote error"},
                                             {GraphStatus::kFailed, "another"},
                                             {GraphStatus::kCommunicatorLost, "also lost"}});
  EXPECT_EQ(all.status, GraphStatus::kCommunicatorLost);
  EXPECT_EQ(all.reason, "rank 1: cuBLAS refused; rank 2: NCCL: remote error");
  // A reason that names its rank already (NCCL's errors do) is not prefixed again.
  EXPECT_EQ(combine_graph_votes({{GraphStatus::kFailed, "rank 0: NCCL all-reduce failed"}}).reason,
            "rank 0: NCCL all-reduce failed");
}

// A small model on the recording backend.
ModelConfig small_model() {
  ModelConfig m;
  m.hidden = {24};
  m.latent = 4;
  return m;
}
constexpr int kDim = 20, kRows = 8;

// Device memory allocated after step 0 (before the capture of step 1) and released after
// step 3, as a layer that grows its buffers for a bigger batch releases the ones a
// captured step holds. (Whether the model's own layers reallocate depends on how they
// keep their buffers; the graph-memory watch cannot see into a graph, so any memory
// alive at the capture counts.)
BetweenSteps release_after_step_3() {
  auto held = std::make_shared<DeviceBuffer>();
  return [held](Backend& be, VaeModel&, int step) {
    if (step == 0) *held = DeviceBuffer(&be, 64);
    if (step == 3) held->reset();
  };
}

// Sampling between steps with twice the training rows.
void sample_with_more_rows(Backend& be, VaeModel& model, int step) {
  if (step != 3) return;
  const int rows = 2 * kRows;
  std::vector<float> x(size_t(rows) * kDim, 0.5f);
  DeviceBuffer dx(&be, x.size());
  be.copy_to_device(dx.data(), x.data(), x.size());
  model.forward(be, dx.data(), rows, NoiseKey{7, kRngSample, 0, 0});
}

// Trains 8 steps eagerly and 8 with a graph, each on its own RecordingBackend with its
// own instance of the same work between steps; the replayed steps must give the eager
// steps' bits. Returns the graph run's number of captures.
int captures_when_replayed_like_eager(const std::function<BetweenSteps()>& between_steps) {
  TrainConfig train;
  const int steps = 8;
  const std::vector<float> images = synthetic_batches(steps, kRows, kDim, 1);
  RecordingBackend eager_be, graph_be;
  const TrainStepsResult eager =
      run_train_steps(eager_be, small_model(), train, kDim, kRows, steps, images, 2, false, between_steps());
  const TrainStepsResult replayed =
      run_train_steps(graph_be, small_model(), train, kDim, kRows, steps, images, 2, true, between_steps());
  EXPECT_TRUE(replayed.graph_used) << replayed.graph_failure;
  EXPECT_EQ(graph_be.replays(), steps - 1);
  EXPECT_EQ(replayed.params, eager.params);
  EXPECT_EQ(replayed.adam_m, eager.adam_m);
  EXPECT_EQ(replayed.recon, eager.recon);
  return replayed.graph_captures;
}

// The IWAE warm-up's weight is read from the step's scalars when the step runs: 8 replayed
// steps whose weight ramps from 1/8 to 1 give the eager steps' bits (a weight frozen at
// the capture would not), and they differ from the same steps without the warm-up.
TEST(StepGraph, AnIwaeStepWithItsWarmUpReadsEachStepsWeight) {
  TrainConfig train;
  train.objective = "iwae";
  train.iw_samples = 3;
  const int steps = 8;
  const std::vector<float> images = synthetic_batches(steps, kRows, kDim, 3);
  RecordingBackend plain_be;
  const TrainStepsResult plain = run_train_steps(plain_be, small_model(), train, kDim, kRows, steps, images, 4);
  train.kl_warmup_steps = steps;
  RecordingBackend eager_be, graph_be;
  const TrainStepsResult eager = run_train_steps(eager_be, small_model(), train, kDim, kRows, steps, images, 4);
  const TrainStepsResult replayed = run_train_steps(graph_be, small_model(), train, kDim, kRows, steps, images, 4, true);
  EXPECT_TRUE(replayed.graph_used) << replayed.graph_failure;
  EXPECT_EQ(graph_be.replays(), steps - 1);
  EXPECT_EQ(replayed.params, eager.params);
  EXPECT_EQ(replayed.recon, eager.recon);
  EXPECT_NE(eager.params, plain.params) << "the warm-up must change the training";
}

TEST(StepGraph, IsCapturedAgainAfterMemoryItMayReadIsReleased) {
  EXPECT_EQ(captures_when_replayed_like_eager(release_after_step_3), 2)
      << "the graph of step 1 must be captured again after step 3";
}

// Whatever the model does with its buffers for a pass with more rows (grow them, or
// keep separate ones), no stale graph is replayed (RecordingBackend would throw) and the
// steps equal eager ones.
TEST(StepGraph, SamplingWithMoreRowsBetweenStepsNeverReplaysAStaleGraph) {
  captures_when_replayed_like_eager([] { return BetweenSteps(sample_with_more_rows); });
}

TEST(StepGraph, SamplingWithFewerRowsKeepsTheGraph) {
  TrainConfig train;
  const int steps = 5;
  const std::vector<float> images = synthetic_batches(steps, kRows, kDim, 1);
  RecordingBackend be;
  auto fewer_rows = [](Backend& b, VaeModel& model, int) {
    std::vector<float> x(size_t(kRows / 2) * kDim, 0.5f);
    DeviceBuffer dx(&b, x.size());  // allocated and released after the capture: not the graph's
    b.copy_to_device(dx.data(), x.data(), x.size());
    model.forward(b, dx.data(), kRows / 2, NoiseKey{7, kRngSample, 0, 0});
  };
  const TrainStepsResult r = run_train_steps(be, small_model(), train, kDim, kRows, steps, images, 2, true, fewer_rows);
  EXPECT_TRUE(r.graph_used);
  EXPECT_EQ(r.graph_captures, 1);
}

// Stands for NCCL between this rank and one other rank, whose gradients are zero.
class FakeCommunicator final : public Communicator {
 public:
  explicit FakeCommunicator(const RecordingBackend& be) : be_(be) {}
  // The all-reduce fails while being captured, and the failure aborts the
  // communicator, as NcclCommunicator::fail() does.
  bool fail_in_capture = false;
  int barriers = 0;

  std::string name() const override { return "fake"; }
  int rank() const override { return 0; }
  int world() const override { return 2; }
  // A blocking all-reduce inside a capture fails as NCCL's does (it waits on the host for
  // an event of the stream being captured) and aborts the communicator.
  void allreduce_sum(float*, size_t) override {
    require_usable();
    if (be_.capturing()) {
      usable_ = false;
      ELBO_FAIL("rank 0: NCCL all-reduce: operation not permitted when stream is capturing");
    }
  }
  void broadcast(float*, size_t, int) override { require_usable(); }
  void allgather(const float*, float*, size_t) override { require_usable(); }
  void reduce_scatter_sum(float*, size_t) override { require_usable(); }
  void allgather_shards(float*, size_t) override { require_usable(); }
  void barrier() override {
    require_usable();
    ++barriers;
  }
  void allreduce_sum_async(float*, size_t) override {
    require_usable();
    if (fail_in_capture && be_.capturing()) {
      usable_ = false;
      ELBO_FAIL("rank 0: NCCL all-reduce failed after 0.01 s (timeout 300 s): unhandled system error");
    }
  }
  bool capturable() const override { return true; }
  bool usable() const override { return usable_; }

 private:
  void require_usable() const { ELBO_CHECK(usable_, "rank 0: NCCL called on a communicator that was aborted"); }
  const RecordingBackend& be_;
  bool usable_ = true;
};

// One replica of a 2-rank job (this is rank 0), stepping through StepProgram with a reducer.
struct Replica {
  // free_bits > 0: the step all-reduces the KL of each latent dimension too (inside the
  // graph); group_free_bits > 0 (an hvae): the KL of each group, for per-group free bits.
  explicit Replica(float free_bits = 0.0f, const ModelConfig& config = small_model(), float group_free_bits = 0.0f)
      : model(make_model(config, kDim, be, 3)), program{be, *model, adam, &reducer, shape(free_bits, group_free_bits)} {}
  RecordingBackend be;
  std::unique_ptr<VaeModel> model;
  Adam adam{be, model->params().total(), TrainConfig{}};
  FakeCommunicator comm{be};
  GradReducer reducer{comm, model->params().grads(), model->params().reduced_size(), 64};
  StepProgram program;
  std::vector<float> images = synthetic_batches(1, kRows, kDim, 4);
  int64_t step = 0;

  static StepShape shape(float free_bits, float group_free_bits) {
    StepShape s;
    s.free_bits = free_bits;
    s.group_free_bits = group_free_bits;
    s.weigh_kl_groups = group_free_bits > 0.0f;
    s.rows = kRows;
    s.dim = kDim;
    s.global_batch = 2 * kRows;
    s.seed = 5;
    s.dynamic_binarize = true;
    return s;
  }
  // The other rank's vote, combined with this rank's as the MPI agreement would.
  void others_vote(GraphVote other) {
    program.allow_graph(true, [other](const GraphVote& mine) { return combine_graph_votes({mine, other}); });
  }
  void run_step() {
    std::vector<float> upload(program.step_input_floats());
    const StepScalars sc = program.scalars(step, uint64_t(step) * kRows, 1.0f);
    std::memcpy(upload.data(), &sc, sizeof sc);
    std::copy(images.begin(), images.end(), upload.begin() + kStepScalarFloats);
    be.copy_to_device(program.step_input(), upload.data(), upload.size());
    program.run(true);
    ++step;
  }
  std::vector<float> params() {
    std::vector<float> h(model->params().total());
    be.copy_to_host(h.data(), model->params().params(), h.size());
    return h;
  }
};

// The convolutional models' steps (oneDNN convolutions over chunks, channel-blocked
// maps, the conv hvae's residual cells and resampling) are captured once and replayed:
// nothing in them allocates, synchronises or reads back to the host (the recording
// backend refuses all three while capturing, as CUDA does), and the replays give the
// eager steps' bits, for the ELBO and the IWAE bound.
TEST(StepGraph, ConvModelStepsAreCapturedOnceAndReplayedToTheEagerBits) {
  ModelConfig conv;
  conv.type = "conv_vae";
  conv.channels = {4, 8};
  conv.strides = {2, 1};
  conv.latent = 4;
  ModelConfig hvae;
  hvae.type = "hvae";
  hvae.group_type = "conv";
  hvae.latents = {2, 1, 1};
  hvae.group_hidden = {8, 8, 8};
  hvae.group_scale = {4, 2, 1};
  hvae.group_depth = 1;
  hvae.posterior = "residual";
  hvae.activation = "swish";
  const Shape image = Shape::images(1, 1, 8, 8);
  const int rows = 6, steps = 5;
  const std::vector<float> images = synthetic_batches(steps, rows, 64, 21);
  for (const ModelConfig& model : {conv, hvae})
    for (const bool iwae : {false, true}) {
      TrainConfig train;
      if (iwae) {
        train.objective = "iwae";
        train.iw_samples = 3;
      }
      const std::string what = model.type + (iwae ? " iwae" : " elbo");
      RecordingBackend eager_be(2), graph_be(2);
      const TrainStepsResult eager = run_train_steps(eager_be, model, train, image, rows, steps, images, 6);
      const TrainStepsResult replayed = run_train_steps(graph_be, model, train, image, rows, steps, images, 6, true);
      EXPECT_TRUE(replayed.graph_used) << what << ": " << replayed.graph_failure;
      EXPECT_EQ(replayed.graph_captures, 1) << what;
      EXPECT_EQ(graph_be.replays(), steps - 1) << what;
      EXPECT_EQ(replayed.params, eager.params) << what;
      EXPECT_EQ(replayed.adam_m, eager.adam_m) << what;
      EXPECT_EQ(replayed.recon, eager.recon) << what;
    }
}

TEST(StepGraphAgreement, EveryRankCapturedSoEveryRankReplays) {
  Replica r;
  r.others_vote({});
  for (int i = 0; i < 4; ++i) r.run_step();
  EXPECT_TRUE(r.program.graph_active());
  EXPECT_EQ(r.be.replays(), 3);
  EXPECT_EQ(r.comm.barriers, 0);
}

// Free bits all-reduce each latent dimension's KL inside the step: started and waited for
// on the stream, so the step is still captured (a blocking all-reduce would fail the
// capture and, with NCCL, abort the communicator).
TEST(StepGraphAgreement, AStepWithFreeBitsIsCapturedAndReplayed) {
  Replica r(0.5f);
  r.others_vote({});
  for (int i = 0; i < 4; ++i) r.run_step();
  EXPECT_TRUE(r.program.graph_active()) << r.program.graph_failure();
  EXPECT_EQ(r.be.replays(), 3);
}

// A hierarchical model (the variance bound, the merge, the KL between two Gaussians) with
// free bits per group (an all-reduce of the groups' KLs inside the step): captured,
// replayed, and the same bits as the same steps run eagerly.
TEST(StepGraphAgreement, AnHvaeStepWithGroupFreeBitsIsCapturedAndReplayed) {
  ModelConfig hvae;
  hvae.type = "hvae";
  hvae.latents = {3, 4};
  hvae.group_hidden = {12, 16};
  hvae.group_depth = 1;
  Replica replayed(0.0f, hvae, 0.3f), eager(0.0f, hvae, 0.3f);
  replayed.others_vote({});
  for (int i = 0; i < 4; ++i) {
    replayed.run_step();
    eager.run_step();
  }
  EXPECT_TRUE(replayed.program.graph_active()) << replayed.program.graph_failure();
  EXPECT_EQ(replayed.be.replays(), 3);
  EXPECT_EQ(eager.be.replays(), 0);
  EXPECT_EQ(replayed.params(), eager.params());
}

TEST(StepGraphAgreement, ACaptureThatLostThisRanksCommunicatorStopsEveryRankWithOneError) {
  Replica r;
  r.comm.fail_in_capture = true;
  r.others_vote({});  // the other rank captured
  r.run_step();       // eager
  try {
    r.run_step();  // captured: the all-reduce fails and NCCL aborts the communicator
    FAIL() << "the ranks went on although rank 0 has no communicator left";
  } catch (const AgreedError& e) {  // every rank throws it alike, rank 0 prints it
    const std::string m = e.what();
    EXPECT_TRUE(contains(m, "rank 0: NCCL all-reduce failed")) << m;
    EXPECT_TRUE(contains(m, "unhandled system error")) << m;
    EXPECT_TRUE(contains(m, "communicator unusable")) << m;
    EXPECT_TRUE(contains(m, "train.cuda_graph: false")) << m;
  }
  EXPECT_FALSE(r.program.graph_active());
  EXPECT_EQ(r.be.replays(), 0);
}

TEST(StepGraphAgreement, AnotherRankThatLostItsCommunicatorStopsThisRankToo) {
  Replica r;
  r.others_vote({GraphStatus::kCommunicatorLost, "rank 1: NCCL all-reduce failed: remote process exited"});
  r.run_step();
  try {
    r.run_step();
    FAIL() << "this rank went on although rank 1 has no communicator left";
  } catch (const AgreedError& e) {
    EXPECT_TRUE(contains(e.what(), "rank 1: NCCL all-reduce failed: remote process exited")) << e.what();
  }
  EXPECT_FALSE(r.program.graph_active()) << "the graph captured here must be released";
  EXPECT_EQ(r.be.replays(), 0);
}

TEST(StepGraphAgreement, AHarmlessFailureOnAnyRankSendsEveryRankBackToEagerStepsOnAWorkingDataPlane) {
  Replica eager;  // the reference: never captures
  for (int i = 0; i < 5; ++i) eager.run_step();

  Replica r;
  r.others_vote({GraphStatus::kFailed, "cuBLAS: operation not permitted when stream is capturing"});
  for (int i = 0; i < 5; ++i) r.run_step();
  EXPECT_FALSE(r.program.graph_active());
  EXPECT_EQ(r.be.replays(), 0);
  EXPECT_EQ(r.comm.barriers, 1) << "the data plane is checked once before eager steps rely on it";
  EXPECT_TRUE(contains(r.program.graph_failure(), "rank 1: cuBLAS")) << r.program.graph_failure();
  EXPECT_EQ(r.params(), eager.params());
}

TEST(StepGraphAgreement, ThisRanksHarmlessFailureIsReportedToAll) {
  Replica r;
  r.be.refuse_capture = true;
  GraphVote seen;
  r.program.allow_graph(true, [&seen](const GraphVote& mine) {
    seen = combine_graph_votes({mine, {}});
    return seen;
  });
  for (int i = 0; i < 3; ++i) r.run_step();
  EXPECT_EQ(seen.status, GraphStatus::kFailed);
  EXPECT_EQ(seen.reason, "rank 0: the backend cannot capture graphs");
  EXPECT_EQ(r.comm.barriers, 1);
  EXPECT_FALSE(r.program.graph_active());
}

TEST(StepGraphAgreement, AStaleGraphIsNeverReplayedAndRanksRecaptureTogether) {
  Replica r;
  int agreements = 0;
  r.program.allow_graph(true, [&agreements](const GraphVote& mine) {
    ++agreements;
    return combine_graph_votes({mine, {}});
  });
  const BetweenSteps between = release_after_step_3();
  between(r.be, *r.model, 0);
  r.run_step();
  r.run_step();  // captured
  ASSERT_TRUE(r.program.graph_active());
  between(r.be, *r.model, 3);
  // This rank cannot re-capture alone: the other rank would replay its graph.
  try {
    r.run_step();
    FAIL() << "a graph whose buffers were reallocated was replayed";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "rank 0: device memory that the captured CUDA graph")) << e.what();
    EXPECT_TRUE(contains(e.what(), "revalidate_graph()")) << e.what();
  }
  // After the work outside the step, every rank asks.
  r.program.revalidate_graph();
  EXPECT_FALSE(r.program.graph_active());
  r.run_step();  // captured again, agreed again
  EXPECT_TRUE(r.program.graph_active());
  EXPECT_EQ(r.program.graph_captures(), 2);
  EXPECT_EQ(agreements, 3);
  r.program.revalidate_graph();  // nothing changed: a vote, and the graph stays
  EXPECT_EQ(agreements, 4);
  EXPECT_TRUE(r.program.graph_active());
}

}  // namespace
}  // namespace elbo
