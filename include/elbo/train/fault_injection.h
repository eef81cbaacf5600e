// Fault injection for the end-to-end tests of the failure paths (tests/e2e/
// test_fault_matrix.sh, test_rank_failure.sh, launch/soak.sh). Read from the
// environment; inert unless ELBO_FAULT_AT_STEP is set:
//   ELBO_FAULT_AT_STEP=S   the step the fault belongs to (steps count from 1)
//   ELBO_FAULT_RANK=R      the rank that suffers it (default 0)
//   ELBO_FAULT_KIND=K      what happens (default signal):
//     signal                rank R raises ELBO_FAULT_SIGNAL at itself right after step S,
//                           as a scheduler, a user or a failing node would
//     signal_in_checkpoint  rank R raises it while writing the first checkpoint at or after
//                           step S, after the temporary file is written, before it is published
//     nan_batch             a NaN in rank R's slice of the batch of step S
//     perturb_params        rank R's replica drifts (one parameter changes) after step S
//     nan_params            one of rank R's parameters becomes NaN after step S (a bit flip,
//                           a bug in an op): no checkpoint may be written from it
//     break_checkpoint_dir  after step S, rank R finds <run.dir>/checkpoints replaced by a
//                           file (a directory removed or unwritable mid-run)
//   ELBO_FAULT_SIGNAL      TERM, INT, USR1, KILL or STOP (default TERM)
#pragma once
#include <cstdint>
#include <string>

namespace elbo {

class FaultInjection {
 public:
  enum class Kind { kSignal, kSignalInCheckpoint, kNanBatch, kPerturbParams, kNanParams, kBreakCheckpointDir };

  // Reads the environment; an unknown kind or signal is an error naming the variable.
  static FaultInjection from_env();

  // Right after step `step`: raises the signal, or replaces the checkpoint directory.
  void after_step(int rank, int64_t step, const std::string& run_dir) const;
  // Whether this rank's slice of the batch of step `step` gets a NaN.
  bool poison_batch(int rank, int64_t step) const { return hits(Kind::kNanBatch, rank, step); }
  // Whether this rank's parameters are to drift after step `step`.
  bool perturb_params(int rank, int64_t step) const { return hits(Kind::kPerturbParams, rank, step); }
  // Whether one of this rank's parameters becomes NaN after step `step`.
  bool nan_params(int rank, int64_t step) const { return hits(Kind::kNanParams, rank, step); }
  // Inside a checkpoint write of step `step`, before the file is published.
  void in_checkpoint(int rank, int64_t step) const;

 private:
  bool hits(Kind kind, int rank, int64_t step) const {
    return at_step_ >= 0 && kind_ == kind && rank == rank_ && step == at_step_;
  }
  int64_t at_step_ = -1;
  int rank_ = 0;
  int signal_ = 0;
  Kind kind_ = Kind::kSignal;
};

}  // namespace elbo
