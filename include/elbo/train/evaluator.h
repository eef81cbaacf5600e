// Test-set evaluation of a checkpoint, distributed over ranks (each takes a
// contiguous slice of the test images):
//   negative ELBO (single sample)            -> test_nelbo, test_recon, test_kl
//   importance-weighted NLL estimate with k   -> iw_nll = -mean_i log (1/k) sum_t w_it
// (Burda et al. 2016), computed with log-sum-exp in chunks, in nats and bits/dim.
// Rank 0 prints the result and writes <run.dir>/eval.json (and eval_step<N>.json).
#pragma once
#include <string>

#include "elbo/config.h"
#include "elbo/dist/mpi_context.h"

namespace elbo {

struct EvalResult {
  int64_t images = 0;
  int64_t k = 0;
  int64_t step = 0;
  double nelbo = 0, recon = 0, kl = 0, iw_nll = 0;
  double nelbo_bpd = 0, iw_nll_bpd = 0;
  std::string checkpoint;
};

// checkpoint: a file, or empty for the newest valid checkpoint of run.dir.
EvalResult evaluate(const Config& config, MpiContext& mpi, const std::string& checkpoint);

}  // namespace elbo
