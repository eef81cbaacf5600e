// What the per-image tools share (elbo interpolate, encode, score): a checkpoint's model
// restored on every rank for the images of --data, flag values checked before any work,
// per-image results gathered on rank 0, and output files that appear whole or not at all.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "elbo/data/shard_set.h"
#include "elbo/train/evaluator.h"
#include "elbo/train/image_scores.h"
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

// Writes an HDF5 file through fill(file) into path.tmp, then renames it over path: on an
// error path is left as it was and the temporary file is removed.
void write_hdf5_atomically(const std::string& path, const std::function<void(hid_t file)>& fill);

// Runs the scorer over every image of m.data (each rank a contiguous slice, `batch` at a
// time, k importance samples each; a progress line with ETA on rank 0 named `what`),
// calling row(scorer, r, values) for each image to fill `columns` doubles. Returns, on
// rank 0, images x columns values in image order (other ranks: empty). Collective.
// group_means: the scorer also computes a hierarchy's group means (ImageScorer::group_mu).
std::vector<double> per_image_columns(const Config& config, MpiContext& mpi, ModelOnData& m, int batch, int k,
                                      int columns, const char* what,
                                      const std::function<void(const ImageScorer&, int, double*)>& row,
                                      bool group_means = false);

}  // namespace elbo::cli
