// Fault injection for the end-to-end tests of stopping, crashing and hanging ranks:
// ELBO_FAULT_AT_STEP=S makes rank ELBO_FAULT_RANK (default 0) raise the signal
// ELBO_FAULT_SIGNAL (TERM, INT, USR1, KILL or STOP; default TERM) at itself right after
// step S, exactly as if a scheduler, a user or a failing node had sent it.
#pragma once
#include <cstdint>

namespace elbo {

class FaultInjection {
 public:
  // Reads the environment; an unknown signal name is an error naming the variable.
  static FaultInjection from_env();
  // Raises the signal when this is the configured rank and step.
  void after_step(int rank, int64_t step) const;

 private:
  int64_t at_step_ = -1;
  int rank_ = 0;
  int signal_ = 0;
};

}  // namespace elbo
