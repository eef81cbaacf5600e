#include "per_image_rows.h"

#include <algorithm>
#include <climits>
#include <thread>
#include <vector>

#include "elbo/error.h"
#include "elbo/io/progress.h"
#include "elbo/train/signals.h"

namespace elbo::cli {
namespace {

// Messages from the other ranks to rank 0: the first image's index (a double: exact for
// any set below 2^53 images), then that batch's rows.
constexpr int kRowsTag = 7301;

void check_mpi(int rc, const char* what, int rank) {
  ELBO_CHECK(rc == MPI_SUCCESS, "rank " << rank << ": " << what << " of per-image rows failed (MPI error " << rc << ")");
}

}  // namespace

void stream_per_image_rows(const Config& config, MpiContext& mpi, ModelOnData& m, int batch, int k, int columns,
                           const char* what, const std::function<void(const ImageScorer&, int, double*)>& row,
                           const ImageRowsSink& sink, bool group_means) {
  const int64_t n = m.data.count;
  const int64_t begin = n * mpi.rank() / mpi.world(), end = n * (mpi.rank() + 1) / mpi.world();
  ELBO_CHECK(int64_t(batch) * columns < INT_MAX / 2, "--batch " << batch << ": " << columns
                                                                << " values per image make a batch too large to send; "
                                                                   "use a smaller --batch");
  ImageScorer scorer(config, *m.replica.backend, *m.replica.model, m.data, m.data_key.c_str(), batch, k, group_means);
  // Rank 0 reports its slice, scaled to all images (the slices run at the same pace).
  const double scale = double(n) / double(std::max<int64_t>(1, end - begin));
  ProgressMeter progress(what, "images", n, mpi.is_root());
  // Ctrl-C (or a job's SIGTERM) ends the work within one batch, saying so; the tools
  // publish their file only at the end, so nothing is left behind.
  install_stop_signal_handlers();
  auto stop_if_asked = [&](int64_t done) {
    if (stop_signal_received())
      ELBO_FAIL(what << " interrupted by " << stop_signal_name(last_stop_signal()) << " after " << done << " of "
                     << end - begin << " images of this rank; no result was written");
  };

  // Rank 0: the other ranks' rows, taken whenever they have arrived (wait: until all have).
  int64_t others_left = mpi.is_root() ? n - (end - begin) : 0;
  std::vector<double> inbox;
  auto take_arrived_rows = [&](bool wait) {
    while (others_left > 0) {
      int ready = 0;
      MPI_Status status;
      check_mpi(MPI_Iprobe(MPI_ANY_SOURCE, kRowsTag, mpi.comm(), &ready, &status), "a probe", mpi.rank());
      if (!ready) {
        if (!wait) return;
        stop_if_asked(end - begin);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      int count = 0;
      MPI_Get_count(&status, MPI_DOUBLE, &count);
      const int rows = (count - 1) / columns;
      ELBO_CHECK(count >= 1 + columns && count == 1 + rows * columns,
                 "rank 0 received " << count << " values from rank " << status.MPI_SOURCE << ", expected 1 + a whole "
                                    << "number of rows of " << columns);
      inbox.resize(size_t(count));
      check_mpi(MPI_Recv(inbox.data(), count, MPI_DOUBLE, status.MPI_SOURCE, kRowsTag, mpi.comm(), MPI_STATUS_IGNORE),
                "a receive", mpi.rank());
      sink(int64_t(inbox[0]), rows, inbox.data() + 1);
      others_left -= rows;
    }
  };

  // Other ranks: two buffers, one on its way to rank 0 while the next batch is scored.
  std::vector<double> buffers[2];
  MPI_Request sending[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  int current = 0;
  for (int64_t first = begin; first < end; first += batch) {
    const int rows = int(std::min<int64_t>(batch, end - first));
    scorer.score(first, rows, [&](int done) {
      progress.update(int64_t(double(first - begin + done) * scale));
      stop_if_asked(first - begin + done);
    });
    std::vector<double>& out = buffers[current];
    check_mpi(MPI_Wait(&sending[current], MPI_STATUS_IGNORE), "a send", mpi.rank());
    out.assign(1 + size_t(rows) * size_t(columns), 0.0);
    out[0] = double(first);
    for (int r = 0; r < rows; ++r) row(scorer, r, &out[1 + size_t(r) * size_t(columns)]);
    if (mpi.is_root()) {
      sink(first, rows, out.data() + 1);
      take_arrived_rows(/*wait=*/false);
    } else {
      check_mpi(MPI_Isend(out.data(), int(out.size()), MPI_DOUBLE, 0, kRowsTag, mpi.comm(), &sending[current]),
                "a send", mpi.rank());
      current ^= 1;
    }
  }
  if (mpi.is_root()) take_arrived_rows(/*wait=*/true);
  check_mpi(MPI_Waitall(2, sending, MPI_STATUSES_IGNORE), "a send", mpi.rank());
}

}  // namespace elbo::cli
