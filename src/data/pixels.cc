#include "pixels.h"

#include <cstring>

namespace elbo::detail {

void PixelTransform::apply(const void* raw, int64_t elements, float* out) const {
  if (dtype == PixelType::kUInt8) {
    const uint8_t* in = static_cast<const uint8_t*>(raw);
    const float mul = scale ? 1.0f / 255.0f : 1.0f;
    for (int64_t i = 0; i < elements; ++i) out[i] = static_cast<float>(in[i]) * mul;
  } else {
    std::memcpy(out, raw, static_cast<size_t>(elements) * sizeof(float));
  }
  if (threshold >= 0.0f)
    for (int64_t i = 0; i < elements; ++i) out[i] = out[i] > threshold ? 1.0f : 0.0f;
}

}  // namespace elbo::detail
