#include "elbo/train/fault_injection.h"

#include <csignal>
#include <cstdlib>
#include <cstring>

#include "elbo/error.h"

namespace elbo {

FaultInjection FaultInjection::from_env() {
  FaultInjection f;
  const char* step = std::getenv("ELBO_FAULT_AT_STEP");
  if (!step) return f;
  f.at_step_ = std::atoll(step);
  if (const char* r = std::getenv("ELBO_FAULT_RANK")) f.rank_ = std::atoi(r);
  const char* name = std::getenv("ELBO_FAULT_SIGNAL");
  if (!name || !std::strcmp(name, "TERM")) f.signal_ = SIGTERM;
  else if (!std::strcmp(name, "INT")) f.signal_ = SIGINT;
  else if (!std::strcmp(name, "USR1")) f.signal_ = SIGUSR1;
  else if (!std::strcmp(name, "KILL")) f.signal_ = SIGKILL;
  else if (!std::strcmp(name, "STOP")) f.signal_ = SIGSTOP;
  else ELBO_FAIL("ELBO_FAULT_SIGNAL=" << name << ": expected TERM, INT, USR1, KILL or STOP");
  return f;
}

void FaultInjection::after_step(int rank, int64_t step) const {
  if (at_step_ >= 0 && step == at_step_ && rank == rank_) std::raise(signal_);
}

}  // namespace elbo
