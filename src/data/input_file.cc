#include "input_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>

#include "elbo/error.h"

// npy/float32 data are little-endian and copied as they are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "elbo data readers assume a little-endian host");

namespace elbo::detail {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? "," : "") << shape[i];
  os << "]";
  return os.str();
}

int element_bytes(ElementType t) {
  switch (t) {
    case ElementType::kUInt8: return 1;
    case ElementType::kInt32: return 4;
    case ElementType::kInt64: return 8;
    case ElementType::kFloat32: return 4;
  }
  return 1;
}

int to_int_dim(const std::string& path, int64_t v, const char* what) {
  ELBO_CHECK(v > 0 && v <= 65536, path << ": image " << what << " " << v << " is out of range (1..65536)");
  return static_cast<int>(v);
}

// A header can declare any size, and convert allocates a slab of samples before it
// reads them: check first that the file can hold what its header declares (a plain
// file after its header; a gzip file expands at most 1032:1, deflate's limit), so a
// damaged header is refused here instead of asking for gigabytes (found by fuzz_idx).
void check_declared_size(GzStream& in, int64_t count, int64_t item_bytes, const char* items) {
  std::error_code ec;
  const uint64_t file_bytes = std::filesystem::file_size(in.path(), ec);
  if (ec) return;  // not a regular file: reading it will tell
  const uint64_t room = in.compressed() ? file_bytes * 1032 : file_bytes - std::min(file_bytes, in.position());
  ELBO_CHECK(uint64_t(count) <= room / uint64_t(item_bytes),
             in.path() << ": truncated: the header declares " << count << " " << items << " of " << item_bytes
                       << " bytes, more than the " << file_bytes << "-byte file holds");
}

}  // namespace

const char* element_type_name(ElementType t) {
  switch (t) {
    case ElementType::kUInt8: return "uint8";
    case ElementType::kInt32: return "int32";
    case ElementType::kInt64: return "int64";
    case ElementType::kFloat32: return "float32";
  }
  return "?";
}

ArrayHeader read_array_header(GzStream& in) {
  const int first = in.peek();
  ELBO_CHECK(first >= 0, in.path() << ": file is empty");
  if (first == 0x93) return read_npy_header(in);
  if (first == 0x00) return read_idx_header(in);
  ELBO_FAIL(in.path() << ": neither an IDX nor a .npy file (first byte 0x" << std::hex << first
                      << "; expected 0x00 for IDX or 0x93 for npy)");
}

ImageInput::ImageInput(const std::string& path) : in_(path) {
  const ArrayHeader h = read_array_header(in_);
  ELBO_CHECK(h.type == ElementType::kUInt8 || h.type == ElementType::kFloat32,
             path << ": images must be uint8 or float32, the " << h.format << " file holds "
                  << element_type_name(h.type));
  ELBO_CHECK(h.shape.size() == 3 || (h.shape.size() == 4 && h.format == "npy"),
             path << ": images must be [n,H,W]" << (h.format == "npy" ? " or [n,C,H,W]" : "")
                  << ", the " << h.format << " file has shape " << shape_text(h.shape));
  dtype_ = h.type == ElementType::kUInt8 ? PixelType::kUInt8 : PixelType::kFloat32;
  count_ = h.shape[0];
  if (h.shape.size() == 4) channels_ = to_int_dim(path, h.shape[1], "channel count");
  height_ = to_int_dim(path, h.shape[h.shape.size() - 2], "height");
  width_ = to_int_dim(path, h.shape[h.shape.size() - 1], "width");
  check_declared_size(in_, count_, bytes_per_sample(), "samples");
}

int64_t ImageInput::bytes_per_sample() const {
  return int64_t(channels_) * height_ * width_ * (dtype_ == PixelType::kUInt8 ? 1 : 4);
}

void ImageInput::read(int64_t n, void* out) {
  ELBO_CHECK(read_ + n <= count_, path() << ": asked for sample " << read_ + n << " of " << count_);
  std::ostringstream what;
  what << "image data (samples " << read_ << ".." << read_ + n - 1 << " of " << count_ << ")";
  in_.read_exact(out, static_cast<size_t>(n * bytes_per_sample()), what.str());
  read_ += n;
}

void ImageInput::finish() {
  ELBO_CHECK(read_ == count_, path() << ": only " << read_ << " of " << count_ << " samples were read");
  ELBO_CHECK(in_.at_end(), path() << ": unexpected bytes after the " << count_
                                  << " samples the header declares");
}

LabelInput::LabelInput(const std::string& path) : in_(path) {
  const ArrayHeader h = read_array_header(in_);
  ELBO_CHECK(h.type != ElementType::kFloat32,
             path << ": labels must be integers (uint8, int32 or int64), the " << h.format
                  << " file holds float32");
  ELBO_CHECK(h.shape.size() == 1,
             path << ": labels must be one-dimensional [n], the " << h.format << " file has shape "
                  << shape_text(h.shape));
  type_ = h.type;
  count_ = h.shape[0];
  check_declared_size(in_, count_, element_bytes(type_), "labels");
}

void LabelInput::read(int64_t n, int32_t* out) {
  ELBO_CHECK(read_ + n <= count_, path() << ": asked for label " << read_ + n << " of " << count_);
  const int bytes = element_bytes(type_);
  std::vector<unsigned char> raw(static_cast<size_t>(n) * bytes);
  std::ostringstream what;
  what << "label data (labels " << read_ << ".." << read_ + n - 1 << " of " << count_ << ")";
  in_.read_exact(raw.data(), raw.size(), what.str());
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = 0;
    const unsigned char* p = raw.data() + i * bytes;
    switch (type_) {
      case ElementType::kUInt8: v = p[0]; break;
      case ElementType::kInt32: { int32_t x; std::memcpy(&x, p, 4); v = x; break; }
      case ElementType::kInt64: { std::memcpy(&v, p, 8); break; }
      case ElementType::kFloat32: break;
    }
    ELBO_CHECK(v >= 0 && v <= std::numeric_limits<int32_t>::max(),
               path() << ": label " << v << " at index " << read_ + i << " is out of range (0..2^31-1)");
    out[i] = static_cast<int32_t>(v);
  }
  read_ += n;
}

void LabelInput::finish() {
  ELBO_CHECK(read_ == count_, path() << ": only " << read_ << " of " << count_ << " labels were read");
  ELBO_CHECK(in_.at_end(), path() << ": unexpected bytes after the " << count_
                                  << " labels the header declares");
}

}  // namespace elbo::detail
