// Bucket layout and launch order of the gradient reducer, with a recording communicator.
#include <gtest/gtest.h>

#include <vector>

#include "elbo/dist/grad_reducer.h"

namespace elbo {
namespace {

class RecordingComm final : public Communicator {
 public:
  std::string name() const override { return "recording"; }
  int rank() const override { return 0; }
  int world() const override { return 1; }
  void allreduce_sum(float* buf, size_t n) override { calls.push_back({buf, n}); }
  void broadcast(float*, size_t, int) override {}
  void allgather(const float*, float*, size_t) override {}
  void reduce_scatter_sum(float*, size_t) override {}
  void allgather_shards(float*, size_t) override {}
  void barrier() override {}
  void wait_all() override { ++waits; }
  std::vector<std::pair<float*, size_t>> calls;
  int waits = 0;
};

TEST(GradReducer, BucketsCoverTheBufferFromItsEnd) {
  RecordingComm comm;
  std::vector<float> grads(10);
  GradReducer r(comm, grads.data(), grads.size(), 4);
  ASSERT_EQ(r.buckets().size(), 3u);
  EXPECT_EQ(r.buckets()[0].begin, 6u);
  EXPECT_EQ(r.buckets()[0].end, 10u);
  EXPECT_EQ(r.buckets()[2].begin, 0u);
  EXPECT_EQ(r.buckets()[2].end, 2u);
}

TEST(GradReducer, StartsBucketsAsSoonAsTheirRangeIsFinal) {
  RecordingComm comm;
  std::vector<float> grads(10);
  GradReducer r(comm, grads.data(), grads.size(), 4);
  r.begin_step();
  r.ready_from(8);  // bucket [6,10) not yet complete
  EXPECT_TRUE(comm.calls.empty());
  r.ready_from(5);  // [6,10) complete
  ASSERT_EQ(comm.calls.size(), 1u);
  EXPECT_EQ(comm.calls[0].first, grads.data() + 6);
  r.finish();
  ASSERT_EQ(comm.calls.size(), 3u);
  EXPECT_EQ(comm.calls[2].first, grads.data());
  EXPECT_EQ(comm.calls[2].second, 2u);
  EXPECT_EQ(comm.waits, 1);
  r.begin_step();
  r.finish();
  EXPECT_EQ(comm.calls.size(), 6u) << "every step reduces every bucket once";
}

}  // namespace
}  // namespace elbo
