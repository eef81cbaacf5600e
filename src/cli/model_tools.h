// What the per-image tools share (elbo interpolate, encode, score): a checkpoint's model
// restored on every rank for the images of --data, flag values checked before any work,
// and where their output goes (per_image_rows.h, hdf5_output.h: results streamed to rank
// 0 into output files that appear whole or not at all).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "elbo/data/shard_set.h"
#include "elbo/train/evaluator.h"
#include "elbo/train/replica.h"
#include "run_args.h"

namespace elbo::cli {

struct ModelOnData {
  std::string data_key;  // how the set was named: "--data", "data.test" or "data.train"
  ShardSetInfo data;
  Replica replica;
  RestoredCheckpoint checkpoint;
};

// --data MANIFEST (default: data.test, or data.train without one) and the checkpoint
// (--checkpoint, default the newest valid one of run.dir) restored on every rank for its
// images; errors name the flag or key, the file and what was expected. Collective.
ModelOnData open_model_on_data(const Config& config, MpiContext& mpi, const RunArgs& args);

// The whole number of --flag (`text`) in [min, max], or a message saying what is expected.
bool parse_count(const std::string& text, int64_t min, int64_t max, int64_t* out);

// Checks --out before any work: set, and a folder or a file whose name ends in one of
// `endings` (".csv", ".h5"). Returns "" or the problem.
std::string out_problem(const std::string& out, const std::vector<std::string>& endings);

// The file --out names: a folder gets `prefix`_step<S><default_ending> inside it.
std::string out_path(const std::string& out, const std::string& prefix, int64_t step, const std::string& default_ending);

}  // namespace elbo::cli
