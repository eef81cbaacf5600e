#include "elbo/train/step_program.h"

#include "elbo/error.h"
#include "elbo/kernels/philox.h"

namespace elbo {

StepProgram::StepProgram(Backend& be, VaeModel& model, Adam& adam, GradReducer* reducer, const StepShape& shape)
    : be_(be),
      model_(model),
      adam_(adam),
      reducer_(reducer),
      shape_(shape),
      input_(&be, kStepScalarFloats + size_t(shape.rows) * size_t(shape.dim)),
      loss_step_(&be, 2),
      loss_acc_(&be, 2) {
  ELBO_CHECK(shape.rows > 0 && shape.dim > 0 && shape.global_batch > 0,
             "StepProgram: rows, dim and global batch must be positive");
}

StepScalars StepProgram::scalars(int64_t step, uint64_t noise_serial, float kl_weight) const {
  StepScalars s;
  s.noise_serial = noise_serial;
  // The same float product the eager trainer always used: weight_t * (1 / B).
  s.kl_weight = kl_weight * (1.0f / float(shape_.global_batch));
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
  model_.forward(be_, x, shape_.rows, NoiseKey{shape_.seed, kRngReparam, 0, 0, &sc->noise_serial});
  // Gradients of the global-batch mean: each rank sums its rows / B, the all-reduce adds ranks.
  const float inv_b = 1.0f / float(shape_.global_batch);
  if (reducer_) reducer_->begin_step();
  model_.backward(be_, x, shape_.rows, inv_b, Weight(1.0f, &sc->kl_weight), [this](size_t offset) {
    if (reducer_) reducer_->ready_from(offset);
  });
  phase("gradient all-reduce");
  if (reducer_) reducer_->finish();
  phase("optimizer");
  adam_.step(ps.params(), ps.grads(), measure_norm, sc->adam);
  // Loss sums stay on the device until the next log line.
  be_.sum(loss_step_.data(), model_.recon_per_row(), shape_.rows);
  be_.sum(loss_step_.data() + 1, model_.kl_per_row(), shape_.rows);
  be_.axpy(loss_acc_.data(), loss_step_.data(), 2, 1.0f);
}

bool StepProgram::capture() {
  if (!be_.capture_begin()) {
    graph_failure_ = "the backend cannot capture graphs";
    return false;
  }
  // Capturing records the work without running it; the caller replays it for this step.
  const int64_t t = adam_.steps_done();
  bool ok = true;
  try {
    enqueue(/*measure_norm=*/true);
    be_.capture_end();
  } catch (const Error& e) {
    be_.capture_abort();
    graph_failure_ = e.what();
    ok = false;
  }
  adam_.set_steps_done(t);
  return ok;
}

void StepProgram::run(bool measure_norm) {
  if (!graph_ready_ && graph_allowed_ && !graph_given_up_ && eager_steps_ >= 1) {
    bool ok = capture();
    const bool local_ok = ok;
    if (all_ranks_ok_) ok = all_ranks_ok_(ok);
    if (ok) {
      graph_ready_ = true;
    } else {
      if (local_ok) {
        be_.release_graph();
        graph_failure_ = "another rank could not capture its step";
      }
      graph_given_up_ = true;
    }
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
  } catch (const Error&) {
    // A device error at teardown has been (or will be) reported by whoever saw it first.
  }
}

}  // namespace elbo
