#include "per_image_rows.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <sstream>
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

// Buffers that MPI may still be reading or writing when an error unwinds past them (the
// job is about to be aborted): moved here (the vector's memory moves with it) rather than
// freed under MPI, and reachable, so leak checkers do not report them.
void keep_alive(std::vector<double>&& buffer) {
  static std::vector<std::vector<double>> kept;
  kept.push_back(std::move(buffer));
}

// A rank's two send buffers, one on its way to rank 0 while the next batch is scored.
// Left by an error with a send still in flight, a buffer is kept alive (keep_alive).
struct SendBuffers {
  std::vector<double> data[2];
  MPI_Request sending[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  ~SendBuffers() {
    for (int i = 0; i < 2; ++i)
      if (sending[i] != MPI_REQUEST_NULL) keep_alive(std::move(data[i]));
  }
};

}  // namespace

void stream_per_image_rows(const Config& config, MpiContext& mpi, ModelOnData& m, int batch, int k, int columns,
                           const char* what, const std::function<void(const ImageScorer&, int, double*)>& row,
                           const ImageRowsSink& sink, bool group_means) {
  const int64_t n = m.data.count;
  const int64_t begin = n * mpi.rank() / mpi.world(), end = n * (mpi.rank() + 1) / mpi.world();
  if (mpi.world() > 1 && int64_t(batch) * columns >= INT_MAX / 2) {  // the same on every rank: one message
    std::ostringstream message;
    message << "--batch " << batch << ": " << columns << " values per image make a batch too large to send to rank 0; "
            << "use a smaller --batch";
    throw AgreedError(message.str());
  }
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
  // Received without blocking, so that a stop signal is seen while a message is on its way.
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
      MPI_Request receiving = MPI_REQUEST_NULL;
      check_mpi(MPI_Irecv(inbox.data(), count, MPI_DOUBLE, status.MPI_SOURCE, kRowsTag, mpi.comm(), &receiving),
                "a receive", mpi.rank());
      for (int done = 0;;) {
        check_mpi(MPI_Test(&receiving, &done, MPI_STATUS_IGNORE), "a receive", mpi.rank());
        if (done) break;
        if (stop_signal_received()) {
          keep_alive(std::move(inbox));  // MPI may still write into it
          stop_if_asked(end - begin);
        }
        std::this_thread::yield();
      }
      sink(int64_t(inbox[0]), rows, inbox.data() + 1);
      others_left -= rows;
    }
  };

  SendBuffers buffers;  // other ranks only
  int current = 0;
  for (int64_t first = begin; first < end; first += batch) {
    const int rows = int(std::min<int64_t>(batch, end - first));
    scorer.score(first, rows, [&](int done) {
      progress.update(int64_t(double(first - begin + done) * scale));
      stop_if_asked(first - begin + done);
    });
    std::vector<double>& out = buffers.data[current];
    check_mpi(MPI_Wait(&buffers.sending[current], MPI_STATUS_IGNORE), "a send", mpi.rank());
    out.assign(1 + size_t(rows) * size_t(columns), 0.0);
    out[0] = double(first);
    for (int r = 0; r < rows; ++r) row(scorer, r, &out[1 + size_t(r) * size_t(columns)]);
    if (mpi.is_root()) {
      sink(first, rows, out.data() + 1);
      take_arrived_rows(/*wait=*/false);
    } else {
      check_mpi(MPI_Isend(out.data(), int(out.size()), MPI_DOUBLE, 0, kRowsTag, mpi.comm(), &buffers.sending[current]),
                "a send", mpi.rank());
      current ^= 1;
    }
  }
  if (mpi.is_root()) take_arrived_rows(/*wait=*/true);
  check_mpi(MPI_Waitall(2, buffers.sending, MPI_STATUSES_IGNORE), "a send", mpi.rank());
}

}  // namespace elbo::cli
