// Which device memory a captured graph may read, and when that memory goes away.
//
// A graph freezes the pointers it was captured with. If one of those buffers is
// released afterwards (a layer growing its buffers for the bigger batch of a sampling
// or evaluation pass, say), a replay reads and writes freed memory, which the allocator
// may already have handed to another buffer. The watch cannot see inside the graph, so
// it assumes the graph reads every allocation alive when its capture began (the graph
// cannot read any other: allocating during a capture is refused). Releasing one of them
// bumps generation(); StepProgram compares it before each replay and captures again
// instead of replaying a graph whose memory is gone.
#pragma once
#include <cstdint>
#include <unordered_map>

namespace elbo {

class GraphMemoryWatch {
 public:
  void allocated(const void* p) { serial_[p] = ++last_serial_; }
  // A pointer that was never seen allocated is ignored.
  void released(const void* p) noexcept {
    const auto it = serial_.find(p);
    if (it == serial_.end()) return;
    if (it->second <= captured_serial_) ++generation_;
    serial_.erase(it);
  }
  // A capture begins: the graph may read everything allocated so far.
  void capture_began() { captured_serial_ = last_serial_; }
  // Changes whenever memory that was alive when the latest capture began is released.
  uint64_t generation() const { return generation_; }

 private:
  std::unordered_map<const void*, uint64_t> serial_;  // live allocation -> order of allocation
  uint64_t last_serial_ = 0, captured_serial_ = 0, generation_ = 0;
};

}  // namespace elbo
