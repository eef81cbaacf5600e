#include "elbo/io/crc32.h"

#include <zlib.h>

namespace elbo {

uint32_t crc32_bytes(const void* data, size_t bytes, uint32_t crc) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uLong c = crc;
  // zlib takes uInt lengths: feed large buffers in pieces.
  while (bytes > 0) {
    uInt piece = bytes > (1u << 30) ? (1u << 30) : static_cast<uInt>(bytes);
    c = ::crc32(c, p, piece);
    p += piece;
    bytes -= piece;
  }
  return static_cast<uint32_t>(c);
}

}  // namespace elbo
