// DataLoader: the concatenated-epoch stream of loader.h, cut into this rank's
// slices of each global batch, built ahead of time by one prefetch thread.
//
// Threading: the prefetch thread is the only one that touches the SampleSource
// (and so HDF5, under the data subsystem's HDF5 lock). The caller's thread only
// pops finished batches. The thread starts with the first next(), so the usual
// construct-then-seek of a resumed run builds no batch it throws away; seek() stops
// and joins a running thread and drops its queue, so no batch of the old position
// survives, and the next next() starts a new thread at the new cursor.
#include "elbo/data/loader.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "elbo/error.h"
#include "memory_plan.h"
#include "pixels.h"
#include "sample_source.h"

namespace elbo {
namespace {

// The permutations of the last two epochs used: a batch straddles at most two
// epochs unless it is larger than the set.
class PermutationCache {
 public:
  PermutationCache(int64_t count, uint64_t seed, bool shuffle) : count_(count), seed_(seed), shuffle_(shuffle) {}

  int64_t at(int64_t position) {
    if (!shuffle_) return position % count_;
    const int64_t epoch = position / count_;
    auto it = perms_.find(epoch);
    if (it == perms_.end()) {
      if (perms_.size() >= 2) perms_.erase(perms_.begin());
      it = perms_.emplace(epoch, epoch_permutation(count_, seed_, epoch)).first;
    }
    return it->second[static_cast<size_t>(position % count_)];
  }

 private:
  int64_t count_;
  uint64_t seed_;
  bool shuffle_;
  std::map<int64_t, std::vector<int64_t>> perms_;  // epochs only grow, so begin() is the oldest
};

}  // namespace

struct DataLoader::Impl {
  ShardSetInfo info;
  LoaderOptions options;
  detail::MemoryPlan plan;
  detail::PixelTransform transform;
  int64_t local_rows = 0, local_offset = 0;
  std::unique_ptr<detail::SampleSource> source;

  std::mutex mu;
  std::condition_variable space_cv, ready_cv;
  std::deque<Batch> queue;
  std::exception_ptr error;
  bool stop = false;
  int64_t next_cursor = 0;  // stream position of the next batch next() returns
  std::thread worker;       // joinable while a prefetch run is active

  Batch build(int64_t cursor, PermutationCache& perms) {
    Batch b;
    b.cursor = cursor;
    b.local_offset = local_offset;
    b.local_rows = local_rows;
    b.epoch = cursor / info.count;
    b.sample_ids.resize(static_cast<size_t>(local_rows));
    for (int64_t k = 0; k < local_rows; ++k) b.sample_ids[k] = perms.at(cursor + local_offset + k);
    b.images.resize(static_cast<size_t>(local_rows * info.sample_dim()));
    if (info.has_labels) b.labels.resize(static_cast<size_t>(local_rows));
    source->fetch(b.sample_ids, transform, b.images.data(), info.has_labels ? b.labels.data() : nullptr);
    return b;
  }

  void run(int64_t cursor) {
    PermutationCache perms(info.count, options.seed, options.shuffle);
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu);
        space_cv.wait(lock, [&] { return stop || int(queue.size()) < plan.queue_capacity; });
        if (stop) return;
      }
      Batch b;
      try {
        b = build(cursor, perms);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        error = std::current_exception();
        ready_cv.notify_all();
        return;
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stop) return;
        queue.push_back(std::move(b));
      }
      ready_cv.notify_one();
      cursor += options.global_batch;
    }
  }

  // Caller's thread, with no worker running.
  void start(int64_t cursor) {
    stop = false;
    error = nullptr;
    queue.clear();
    worker = std::thread([this, cursor] { run(cursor); });
  }

  void halt() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    space_cv.notify_all();
    if (worker.joinable()) worker.join();
    queue.clear();
    error = nullptr;
  }
};

DataLoader::DataLoader(ShardSetInfo info, LoaderOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  const LoaderOptions& o = options;
  ELBO_CHECK(info.count > 0, info.manifest_path << ": the shard set is empty");
  ELBO_CHECK(o.world >= 1, "data loader: world size must be >= 1, got " << o.world);
  ELBO_CHECK(o.rank >= 0 && o.rank < o.world,
             "data loader: rank " << o.rank << " is outside 0.." << o.world - 1 << " (world size " << o.world << ")");
  ELBO_CHECK(o.global_batch >= 1, "data loader: global batch must be >= 1, got " << o.global_batch);
  ELBO_CHECK(o.global_batch % o.world == 0,
             "data loader: global batch " << o.global_batch << " is not divisible by the world size " << o.world
                                          << " (every rank takes global_batch / world rows); pick a multiple of "
                                          << o.world);
  ELBO_CHECK(o.memory_budget_bytes > 0, "data loader: memory budget must be > 0 bytes, got " << o.memory_budget_bytes);
  ELBO_CHECK(o.prefetch_batches >= 1, "data loader: prefetch_batches must be >= 1, got " << o.prefetch_batches);

  m.info = std::move(info);
  m.options = options;
  m.local_rows = o.global_batch / o.world;
  m.local_offset = int64_t(o.rank) * m.local_rows;
  m.transform = detail::PixelTransform{m.info.dtype, o.scale, o.threshold};
  m.plan = detail::plan_memory(m.info, m.local_rows, o.memory_budget_bytes, o.prefetch_batches);
  m.source = m.plan.cache_in_memory ? detail::make_cached_source(m.info)
                                    : detail::make_streaming_source(m.info, m.plan.chunk_cache_bytes_per_shard);
}

DataLoader::~DataLoader() { impl_->halt(); }

Batch DataLoader::next() {
  Impl& m = *impl_;
  if (!m.worker.joinable()) m.start(m.next_cursor);
  Batch b;
  {
    std::unique_lock<std::mutex> lock(m.mu);
    m.ready_cv.wait(lock, [&] { return !m.queue.empty() || m.error; });
    // Batches built before a failure are still good; the error comes after them.
    if (m.queue.empty()) std::rethrow_exception(m.error);
    b = std::move(m.queue.front());
    m.queue.pop_front();
    m.next_cursor = b.cursor + m.options.global_batch;
  }
  m.space_cv.notify_one();
  return b;
}

void DataLoader::seek(int64_t cursor) {
  ELBO_CHECK(cursor >= 0, "data loader: cannot seek to a negative cursor " << cursor);
  impl_->halt();
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->next_cursor = cursor;
}

int64_t DataLoader::cursor() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->next_cursor;
}

const ShardSetInfo& DataLoader::info() const { return impl_->info; }

bool DataLoader::cached_in_memory() const { return impl_->plan.cache_in_memory; }

}  // namespace elbo
