#include "elbo/dist/grad_reducer.h"

#include <algorithm>
#include <chrono>

#include "elbo/error.h"

namespace elbo {

GradReducer::GradReducer(Communicator& comm, float* grads, size_t n, size_t bucket_elems)
    : comm_(comm), grads_(grads) {
  bucket_elems = std::max<size_t>(bucket_elems, 1);
  for (size_t end = n; end > 0;) {
    size_t begin = end > bucket_elems ? end - bucket_elems : 0;
    buckets_.push_back({begin, end});
    end = begin;
  }
}

void GradReducer::begin_step() { launched_ = 0; }

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

void GradReducer::reduce_scatter_instead(size_t sharded) {
  ELBO_CHECK(comm_.reduce_scatter_matches_allreduce(),
             "the reduce-scatter of " << comm_.name() << " may add in another order than its all-reduce");
  scatter_n_ = sharded;
}

void GradReducer::ready_from(size_t offset) {
  if (scatter_n_ > 0) return;
  if (launched_ == buckets_.size() || buckets_[launched_].begin < offset) return;
  const auto t0 = Clock::now();
  while (launched_ < buckets_.size() && buckets_[launched_].begin >= offset) {
    const Bucket& b = buckets_[launched_++];
    comm_.allreduce_sum_async(grads_ + b.begin, b.end - b.begin);
  }
  comm_seconds_ += since(t0);
}

void GradReducer::finish() {
  const auto t0 = Clock::now();
  if (scatter_n_ > 0) {
    comm_.reduce_scatter_sum(grads_, scatter_n_);
    comm_seconds_ += since(t0);
    return;
  }
  ready_from(0);
  comm_.wait_all();
  comm_seconds_ += since(t0);
}

double GradReducer::take_comm_seconds() {
  const double s = comm_seconds_;
  comm_seconds_ = 0.0;
  return s;
}

}  // namespace elbo
