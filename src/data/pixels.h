// Stored pixels (uint8 or float32) to the float32 the models consume.
#pragma once
#include <cstdint>

#include "elbo/data/shard_set.h"

namespace elbo::detail {

struct PixelTransform {
  PixelType dtype = PixelType::kUInt8;
  bool scale = true;          // uint8 / 255 -> [0,1]; float32 data are never rescaled
  float threshold = -1.0f;    // >= 0: x > threshold ? 1 : 0, after scaling

  void apply(const void* raw, int64_t elements, float* out) const;
};

}  // namespace elbo::detail
