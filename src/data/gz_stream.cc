#include "gz_stream.h"

#include <cerrno>
#include <cstring>

#include "elbo/error.h"

namespace elbo::detail {

GzStream::GzStream(const std::string& path) : path_(path) {
  errno = 0;
  file_ = gzopen(path.c_str(), "rb");
  ELBO_CHECK(file_ != nullptr,
             path << ": cannot open: " << (errno ? std::strerror(errno) : "out of memory"));
  gzbuffer(file_, 1 << 18);
}

GzStream::~GzStream() {
  if (file_ != nullptr) gzclose(file_);
}

size_t GzStream::read_some(void* out, size_t bytes) {
  char* p = static_cast<char*>(out);
  size_t done = 0;
  while (done < bytes) {
    // gzread takes an unsigned int length: read big requests in pieces.
    const size_t left = bytes - done;
    const unsigned piece = left > (1u << 30) ? (1u << 30) : static_cast<unsigned>(left);
    const int got = gzread(file_, p + done, piece);
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(file_, &code);
      ELBO_FAIL(path_ << ": read error at byte " << position_ + done << ": "
                      << (code == Z_ERRNO ? std::strerror(errno) : msg));
    }
    if (got == 0) {
      // End of data; a gzip stream cut short reports it as an error here.
      int code = 0;
      const char* msg = gzerror(file_, &code);
      ELBO_CHECK(code == Z_OK || code == Z_STREAM_END,
                 path_ << ": truncated or corrupt gzip stream after " << position_ + done
                       << " bytes: " << msg);
      break;
    }
    done += static_cast<size_t>(got);
  }
  position_ += done;
  return done;
}

void GzStream::read_exact(void* out, size_t bytes, const std::string& what) {
  const size_t got = read_some(out, bytes);
  ELBO_CHECK(got == bytes, path_ << ": truncated: " << what << " ends after " << got << " of "
                                 << bytes << " bytes");
}

int GzStream::peek() {
  unsigned char byte;
  if (gzread(file_, &byte, 1) != 1) return -1;
  gzungetc(byte, file_);
  return byte;
}

}  // namespace elbo::detail
