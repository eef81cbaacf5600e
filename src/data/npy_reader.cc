// NumPy .npy: "\x93NUMPY", major, minor, header length (uint16 LE in v1, uint32 LE
// in v2/v3), then a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}.
// Only the subset elbo needs is accepted: C-order arrays of u1, i4, i8 or f4,
// little-endian. Anything else is an error naming the file and the field.
#include <cctype>
#include <cstdint>
#include <string>

#include "elbo/error.h"
#include "input_file.h"

namespace elbo::detail {
namespace {

// The text after `'key':` (whitespace skipped), or npos when the key is absent.
size_t value_of(const std::string& dict, const std::string& key) {
  for (const char quote : {'\'', '"'}) {
    const std::string token = std::string(1, quote) + key + std::string(1, quote);
    size_t at = dict.find(token);
    if (at == std::string::npos) continue;
    at = dict.find(':', at + token.size());
    if (at == std::string::npos) return at;
    ++at;
    while (at < dict.size() && std::isspace(static_cast<unsigned char>(dict[at]))) ++at;
    return at;
  }
  return std::string::npos;
}

ElementType parse_descr(const std::string& path, const std::string& descr) {
  std::string d = descr;
  char order = '|';
  if (!d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) {
    order = d[0];
    d = d.substr(1);
  }
  if (d == "u1") return ElementType::kUInt8;
  ELBO_CHECK(order != '>', path << ": npy dtype '" << descr
                                << "' is big-endian; only little-endian data is supported");
  if (d == "i4") return ElementType::kInt32;
  if (d == "i8") return ElementType::kInt64;
  if (d == "f4") return ElementType::kFloat32;
  ELBO_FAIL(path << ": npy dtype '" << descr
                 << "' is not supported (expected uint8 '|u1', int32 '<i4', int64 '<i8' or float32 '<f4')");
}

}  // namespace

ArrayHeader read_npy_header(GzStream& in) {
  unsigned char magic[8];
  in.read_exact(magic, 8, "the npy magic string");
  ELBO_CHECK(std::string(reinterpret_cast<char*>(magic) + 1, 5) == "NUMPY" && magic[0] == 0x93,
             in.path() << ": not a .npy file (bad magic string)");
  const int major = magic[6];
  ELBO_CHECK(major >= 1 && major <= 3,
             in.path() << ": npy format version " << major << "." << int(magic[7])
                       << " is not supported (1.0, 2.0 or 3.0)");
  uint32_t header_len = 0;
  if (major == 1) {
    unsigned char le[2];
    in.read_exact(le, 2, "the npy header length");
    header_len = le[0] | (uint32_t(le[1]) << 8);
  } else {
    unsigned char le[4];
    in.read_exact(le, 4, "the npy header length");
    header_len = le[0] | (uint32_t(le[1]) << 8) | (uint32_t(le[2]) << 16) | (uint32_t(le[3]) << 24);
  }
  ELBO_CHECK(header_len > 0 && header_len <= (1u << 20),
             in.path() << ": npy header length " << header_len << " is implausible");
  std::string dict(header_len, '\0');
  in.read_exact(&dict[0], header_len, "the npy header");

  ArrayHeader header;
  header.format = "npy";

  size_t at = value_of(dict, "descr");
  ELBO_CHECK(at != std::string::npos && at < dict.size() && (dict[at] == '\'' || dict[at] == '"'),
             in.path() << ": npy header has no simple 'descr' (structured dtypes are not supported): " << dict);
  const size_t end = dict.find(dict[at], at + 1);
  ELBO_CHECK(end != std::string::npos, in.path() << ": npy header 'descr' is not terminated");
  header.type = parse_descr(in.path(), dict.substr(at + 1, end - at - 1));

  at = value_of(dict, "fortran_order");
  ELBO_CHECK(at != std::string::npos, in.path() << ": npy header has no 'fortran_order'");
  ELBO_CHECK(dict.compare(at, 5, "False") == 0,
             in.path() << ": npy array is in Fortran order; save it C-ordered (np.ascontiguousarray)");

  at = value_of(dict, "shape");
  ELBO_CHECK(at != std::string::npos && at < dict.size() && dict[at] == '(',
             in.path() << ": npy header has no 'shape' tuple");
  const size_t close = dict.find(')', at);
  ELBO_CHECK(close != std::string::npos, in.path() << ": npy header 'shape' is not terminated");
  std::string tuple = dict.substr(at + 1, close - at - 1);
  size_t pos = 0;
  while (pos < tuple.size()) {
    while (pos < tuple.size() && (std::isspace(static_cast<unsigned char>(tuple[pos])) || tuple[pos] == ',')) ++pos;
    if (pos >= tuple.size()) break;
    size_t digits = pos;
    while (digits < tuple.size() && std::isdigit(static_cast<unsigned char>(tuple[digits]))) ++digits;
    ELBO_CHECK(digits > pos && digits - pos < 19,
               in.path() << ": npy header 'shape' (" << tuple << ") is not a tuple of integers");
    header.shape.push_back(std::stoll(tuple.substr(pos, digits - pos)));
    pos = digits;
  }
  ELBO_CHECK(!header.shape.empty(), in.path() << ": npy array is a scalar (shape ())");
  for (int64_t d : header.shape) ELBO_CHECK(d > 0, in.path() << ": npy shape (" << tuple << ") has a zero dimension");
  return header;
}

}  // namespace elbo::detail
