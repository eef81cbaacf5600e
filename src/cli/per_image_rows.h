// The per-image tools' one loop (elbo encode, elbo score): every image of a shard set
// scored once, each rank a contiguous slice, and every image's row of values handed to
// rank 0 as soon as it is done. Rows travel a batch at a time, so no rank ever holds more
// than two batches of them: a set of millions of images with thousands of values each
// (an hvae's group means) is written by rank 0 as it arrives, not gathered first.
#pragma once
#include <cstdint>
#include <functional>

#include "elbo/config.h"
#include "elbo/train/image_scores.h"
#include "model_tools.h"

namespace elbo::cli {

// Called on rank 0 with the rows of `rows` consecutive images, image `first` first,
// `columns` values each. Every image's row arrives exactly once, in no fixed order (rank
// 0's own slice batch by batch, the other ranks' in between as they arrive).
using ImageRowsSink = std::function<void(int64_t first, int rows, const double* values)>;

// Runs the scorer over every image of m.data, `batch` images at a time with k importance
// samples each (group_means: also a hierarchy's group means, ImageScorer::group_mu), calls
// row(scorer, r, values) to fill `columns` values for each image and hands them to sink on
// rank 0 (unused elsewhere). Rank 0 prints a progress line with ETA named `what`. Ctrl-C
// or SIGTERM ends it within one batch with an error saying so. Collective.
void stream_per_image_rows(const Config& config, MpiContext& mpi, ModelOnData& m, int batch, int k, int columns,
                           const char* what, const std::function<void(const ImageScorer&, int, double*)>& row,
                           const ImageRowsSink& sink, bool group_means = false);

}  // namespace elbo::cli
