#include "elbo/train/fault_injection.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "elbo/error.h"
#include "elbo/train/signals.h"

namespace elbo {

FaultInjection FaultInjection::from_env() {
  FaultInjection f;
  const char* step = std::getenv("ELBO_FAULT_AT_STEP");
  if (!step) return f;
  f.at_step_ = std::atoll(step);
  if (const char* r = std::getenv("ELBO_FAULT_RANK")) f.rank_ = std::atoi(r);
  const char* kind = std::getenv("ELBO_FAULT_KIND");
  if (!kind || !std::strcmp(kind, "signal")) f.kind_ = Kind::kSignal;
  else if (!std::strcmp(kind, "signal_in_checkpoint")) f.kind_ = Kind::kSignalInCheckpoint;
  else if (!std::strcmp(kind, "nan_batch")) f.kind_ = Kind::kNanBatch;
  else if (!std::strcmp(kind, "perturb_params")) f.kind_ = Kind::kPerturbParams;
  else if (!std::strcmp(kind, "nan_params")) f.kind_ = Kind::kNanParams;
  else if (!std::strcmp(kind, "break_checkpoint_dir")) f.kind_ = Kind::kBreakCheckpointDir;
  else
    ELBO_FAIL("ELBO_FAULT_KIND=" << kind
                                 << ": expected signal, signal_in_checkpoint, nan_batch, perturb_params, "
                                    "nan_params or break_checkpoint_dir");
  const char* name = std::getenv("ELBO_FAULT_SIGNAL");
  if (!name || !std::strcmp(name, "TERM")) f.signal_ = SIGTERM;
  else if (!std::strcmp(name, "INT")) f.signal_ = SIGINT;
  else if (!std::strcmp(name, "USR1")) f.signal_ = SIGUSR1;
  else if (!std::strcmp(name, "KILL")) f.signal_ = SIGKILL;
  else if (!std::strcmp(name, "STOP")) f.signal_ = SIGSTOP;
  else ELBO_FAIL("ELBO_FAULT_SIGNAL=" << name << ": expected TERM, INT, USR1, KILL or STOP");
  return f;
}

void FaultInjection::after_step(int rank, int64_t step, const std::string& run_dir) const {
  if (hits(Kind::kSignal, rank, step)) signal_self(signal_);
  if (hits(Kind::kBreakCheckpointDir, rank, step)) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(run_dir) / "checkpoints";
    fs::rename(dir, fs::path(run_dir) / "checkpoints.moved-by-fault-injection");
    std::FILE* f = std::fopen(dir.c_str(), "w");
    if (f) std::fclose(f);
  }
}

void FaultInjection::in_checkpoint(int rank, int64_t step) const {
  if (at_step_ >= 0 && kind_ == Kind::kSignalInCheckpoint && rank == rank_ && step >= at_step_) signal_self(signal_);
}

}  // namespace elbo
