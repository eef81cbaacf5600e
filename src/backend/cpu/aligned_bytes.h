// Grow-only scratch memory for oneDNN primitives, 64-byte aligned (oneDNN's preferred
// alignment): reused call after call, so a step allocates nothing once warm.
#pragma once
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>

namespace elbo {

class AlignedBytes {
 public:
  void* get(size_t bytes) {
    bytes = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    if (bytes > size_) {
      p_.reset(static_cast<char*>(std::aligned_alloc(64, bytes)));
      if (!p_) throw std::bad_alloc();
      size_ = bytes;
    }
    return p_.get();
  }
  // What the last get() returned (nullptr before the first).
  void* data() const { return p_.get(); }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> p_;
  size_t size_ = 0;
};

}  // namespace elbo
