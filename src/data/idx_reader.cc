// IDX (LeCun's MNIST format): bytes 0,1 are zero, byte 2 the element type, byte 3
// the number of dimensions, then one big-endian uint32 per dimension, then data.
#include <cstdint>

#include "elbo/error.h"
#include "input_file.h"

namespace elbo::detail {

ArrayHeader read_idx_header(GzStream& in) {
  unsigned char magic[4];
  in.read_exact(magic, 4, "the IDX magic number");
  ELBO_CHECK(magic[0] == 0 && magic[1] == 0,
             in.path() << ": not an IDX file (magic bytes " << int(magic[0]) << " " << int(magic[1])
                       << ", expected 0 0)");
  // Element types of the IDX format; elbo stores images as uint8 only from IDX.
  ELBO_CHECK(magic[2] == 0x08, in.path() << ": IDX element type 0x" << std::hex << int(magic[2])
                                         << " is not supported (only 0x08, unsigned byte)");
  const int ndims = magic[3];
  ELBO_CHECK(ndims >= 1 && ndims <= 4,
             in.path() << ": IDX header declares " << ndims << " dimensions (expected 1 to 4)");
  ArrayHeader header;
  header.format = "IDX";
  header.type = ElementType::kUInt8;
  for (int d = 0; d < ndims; ++d) {
    unsigned char be[4];
    in.read_exact(be, 4, "the IDX dimension list");
    const uint32_t v = (uint32_t(be[0]) << 24) | (uint32_t(be[1]) << 16) | (uint32_t(be[2]) << 8) | be[3];
    ELBO_CHECK(v > 0, in.path() << ": IDX dimension " << d << " is 0");
    header.shape.push_back(static_cast<int64_t>(v));
  }
  return header;
}

}  // namespace elbo::detail
