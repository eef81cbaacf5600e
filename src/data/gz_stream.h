// Sequential reading of an input file that may or may not be gzip-compressed
// (zlib's gzread passes plain files through), with errors that name the file.
#pragma once
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace elbo::detail {

class GzStream {
 public:
  explicit GzStream(const std::string& path);
  ~GzStream();
  GzStream(const GzStream&) = delete;
  GzStream& operator=(const GzStream&) = delete;

  const std::string& path() const { return path_; }
  // Bytes consumed so far (of the uncompressed stream).
  uint64_t position() const { return position_; }
  // Up to `bytes`; fewer only at the end of the stream.
  size_t read_some(void* out, size_t bytes);
  // Exactly `bytes`, else "<path>: truncated: <what> ends after N of M bytes".
  void read_exact(void* out, size_t bytes, const std::string& what);
  // The next byte without consuming it; -1 at the end.
  int peek();
  // True when no byte is left.
  bool at_end() { return peek() < 0; }
  // False for a plain file read as it is (known once the first bytes were read).
  bool compressed() { return gzdirect(file_) == 0; }

 private:
  std::string path_;
  gzFile file_ = nullptr;
  uint64_t position_ = 0;
};

}  // namespace elbo::detail
