// Input files for `elbo data convert`: IDX (MNIST's format, gzip or plain) and
// NumPy .npy (v1/v2/v3, plain or gzip). The format is recognised by its magic
// bytes, not its name. Readers are sequential so converting a large set needs
// memory for one slab of samples, not the whole file.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "elbo/data/shard_set.h"
#include "gz_stream.h"

namespace elbo::detail {

enum class ElementType { kUInt8, kInt32, kInt64, kFloat32 };
const char* element_type_name(ElementType t);

// What a file's header declares.
struct ArrayHeader {
  std::string format;            // "IDX" or "npy"
  ElementType type = ElementType::kUInt8;
  std::vector<int64_t> shape;
};

// Parse the header, leaving the stream at the first data byte. Errors name the file.
ArrayHeader read_idx_header(GzStream& in);
ArrayHeader read_npy_header(GzStream& in);
// Dispatches on the first bytes: "\x93NUMPY" is npy, 0x00 0x00 is IDX.
ArrayHeader read_array_header(GzStream& in);

// Images: IDX uint8 [n,H,W] (C=1); npy uint8|float32 [n,H,W] (C=1) or [n,C,H,W].
class ImageInput {
 public:
  explicit ImageInput(const std::string& path);
  const std::string& path() const { return in_.path(); }
  int64_t count() const { return count_; }
  int channels() const { return channels_; }
  int height() const { return height_; }
  int width() const { return width_; }
  PixelType dtype() const { return dtype_; }
  int64_t bytes_per_sample() const;
  // Next n samples as stored (uint8 or little-endian float32), C-order.
  void read(int64_t n, void* out);
  // After the last sample: the file must end there.
  void finish();

 private:
  GzStream in_;
  int64_t count_ = 0, read_ = 0;
  int channels_ = 1, height_ = 0, width_ = 0;
  PixelType dtype_ = PixelType::kUInt8;
};

// Labels: IDX uint8 [n]; npy uint8|int32|int64 [n]. Values must be in [0, 2^31).
class LabelInput {
 public:
  explicit LabelInput(const std::string& path);
  const std::string& path() const { return in_.path(); }
  int64_t count() const { return count_; }
  void read(int64_t n, int32_t* out);
  void finish();

 private:
  GzStream in_;
  ElementType type_ = ElementType::kUInt8;
  int64_t count_ = 0, read_ = 0;
};

}  // namespace elbo::detail
