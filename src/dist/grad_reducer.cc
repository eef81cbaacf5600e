#include "elbo/dist/grad_reducer.h"

#include <algorithm>

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

void GradReducer::ready_from(size_t offset) {
  while (launched_ < buckets_.size() && buckets_[launched_].begin >= offset) {
    const Bucket& b = buckets_[launched_++];
    comm_.allreduce_sum_async(grads_ + b.begin, b.end - b.begin);
  }
}

void GradReducer::finish() {
  ready_from(0);
  comm_.wait_all();
}

}  // namespace elbo
