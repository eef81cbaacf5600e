// Test-set evaluation of a checkpoint, distributed over ranks (each takes a
// contiguous slice of the test images):
//   negative ELBO (single sample)            -> test_nelbo, test_recon, test_kl
//   importance-weighted NLL estimate with k   -> iw_nll = -mean_i log (1/k) sum_t w_it
// (Burda et al. 2016), computed with log-sum-exp in chunks, in nats and bits/dim.
//
// Rank 0 prints progress lines while it runs (elbo/io/progress.h) and the result at the
// end, and writes it as JSON named after the checkpoint's step (run_outputs.h):
//   <run>/eval_step<S>.json            the whole test set
//   <run>/eval_step<S>_first<N>.json   the first N images (eval.max_images)
// and, for a whole-test-set evaluation of a checkpoint of run.dir, a copy as
// run.dir/eval.json (the latest full evaluation). A stop signal (SIGINT, SIGTERM,
// SIGUSR1) ends it within one chunk of work with an Error saying so; nothing is written.
#pragma once
#include <string>
#include <vector>

#include "elbo/config.h"
#include "elbo/data/shard_set.h"
#include "elbo/dist/mpi_context.h"
#include "elbo/train/replica.h"

namespace elbo {

struct EvalResult {
  int64_t images = 0;
  int64_t test_set_images = 0;  // the whole test set (images < this: a subset)
  int64_t k = 0;
  int64_t step = 0;
  double nelbo = 0, recon = 0, kl = 0, iw_nll = 0;
  double nelbo_bpd = 0, iw_nll_bpd = 0;
  // Active units (Burda et al. 2016): latent dimensions whose posterior mean varies
  // across the evaluated images, Var_x E_q[z_j | x] > 0.01; a collapsed dimension is not.
  int active_units = 0, latent_dim = 0;
  // Hierarchical models: each group's active units and size (top first; the groups'
  // posterior means at the means above). Empty for single-group models.
  std::vector<int> active_units_per_group, group_dims;
  std::vector<double> kl_per_group;  // each group's mean KL (nats), top first; they sum to kl
  std::string checkpoint;
  std::string weights = "parameters";  // or "weight average" (train.ema_decay)
  std::string written;  // the result file (rank 0)
};

// The warnings an evaluation prints about collapsed latents: none while every group has an
// active unit; for a single-group model whose units are all inactive, one; for a hierarchy,
// one naming each group without an active unit, or one for the whole model when no group
// has any (a collapsed top group alone is common and says nothing of the others).
std::vector<std::string> collapse_warnings(const EvalResult& result);

struct EvalRequest {
  std::string checkpoint;  // a file, or "" for the newest valid checkpoint of run.dir
  std::string out;         // the result file (or a folder for the default name); "" for the default place
};

EvalResult evaluate(const Config& config, MpiContext& mpi, const EvalRequest& request);

// The checkpoint a command evaluates, on every rank of `replica` (built for the images
// of `data`): rank 0 reads `requested` (or the newest valid checkpoint of run.dir when
// empty), checks that it was written for config.model and that its parameters fit a
// model of data's image shape (an error names data_key, the manifest and both shapes),
// then every rank gets its parameters. Collective; returns the path and its step.
struct RestoredCheckpoint {
  std::string path;
  int64_t step = 0;
  std::string weights = "parameters";  // restore_inference_weights()'s answer (known on rank 0)
};
RestoredCheckpoint restore_on_ranks(const Config& config, MpiContext& mpi, Replica& replica,
                                    const std::string& requested, const ShardSetInfo& data,
                                    const std::string& data_key);

// The default result file name: eval_step<S>.json, or eval_step<S>_first<N>.json for a subset.
std::string eval_result_name(int64_t step, int64_t images, int64_t test_set_images);

}  // namespace elbo
