#include "support/synthetic_data.h"

#include <stdlib.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include "elbo/data/shard_set.h"
#include "elbo/error.h"
#include "elbo/kernels/philox.h"

namespace elbo {
namespace {

// A Philox stream of its own, so the test data never shares draws with training noise.
constexpr uint32_t kSyntheticStream = 0x5157u;

struct SampleShape {
  int label;
  float cx, cy, dx, dy, half_len, thickness;  // stroke: centre, unit direction, size
  float bx, by, brad, bamp;                   // blob: centre, radius, amplitude
};

float uniform(uint64_t seed, int64_t i, uint32_t k) {
  return philox_uniform(seed, kSyntheticStream, static_cast<uint64_t>(i), k);
}

SampleShape shape_of(uint64_t seed, int64_t i, int h, int w) {
  SampleShape s;
  s.label = synthetic_label(seed, i);
  const float size = static_cast<float>(std::min(h, w));
  const float angle = s.label * 3.14159265f / 10.0f + 0.2f * (uniform(seed, i, 1) - 0.5f);
  s.dx = std::cos(angle);
  s.dy = std::sin(angle);
  s.cx = 0.5f * w + 0.15f * size * (uniform(seed, i, 2) - 0.5f);
  s.cy = 0.5f * h + 0.15f * size * (uniform(seed, i, 3) - 0.5f);
  s.half_len = size * (0.25f + 0.1f * uniform(seed, i, 4));
  s.thickness = std::max(0.8f, 0.06f * size);
  s.bx = w * (0.2f + 0.6f * uniform(seed, i, 5));
  s.by = h * (0.2f + 0.6f * uniform(seed, i, 6));
  s.brad = size * (0.06f + 0.08f * uniform(seed, i, 7));
  s.bamp = 0.5f + 0.5f * uniform(seed, i, 8);
  return s;
}

float pixel_of(const SampleShape& s, int c, int y, int x) {
  // Distance from the pixel centre to the stroke segment.
  const float px = x + 0.5f - s.cx, py = y + 0.5f - s.cy;
  const float along = std::clamp(px * s.dx + py * s.dy, -s.half_len, s.half_len);
  const float ex = px - along * s.dx, ey = py - along * s.dy;
  const float stroke = std::exp(-(ex * ex + ey * ey) / (s.thickness * s.thickness));
  const float bx = x + 0.5f - s.bx, by = y + 0.5f - s.by;
  const float blob = s.bamp * std::exp(-(bx * bx + by * by) / (2.0f * s.brad * s.brad));
  // Colour images: each channel a class-dependent tint of the same shape.
  const float tint = 0.6f + 0.4f * std::cos(static_cast<float>(s.label) + 2.1f * c);
  return std::clamp(std::max(stroke, blob) * tint, 0.0f, 1.0f);
}

std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape, int version = 1,
                       bool fortran_order = false) {
  std::ostringstream dict;
  dict << "{'descr': '" << descr << "', 'fortran_order': " << (fortran_order ? "True" : "False")
       << ", 'shape': (";
  for (size_t d = 0; d < shape.size(); ++d) dict << (d > 0 ? ", " : "") << shape[d];
  if (shape.size() == 1) dict << ",";  // a Python 1-tuple
  dict << "), }";
  std::string text = dict.str();
  // magic(6) + version(2) + length (uint16 in v1, uint32 in v2/v3), then the dict
  // padded with spaces and a final newline so the data starts 64-byte aligned.
  const size_t length_bytes = version == 1 ? 2 : 4;
  const size_t unpadded = 8 + length_bytes + text.size() + 1;
  text.append((64 - unpadded % 64) % 64, ' ');
  text.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(version));
  out.push_back('\0');
  for (size_t b = 0; b < length_bytes; ++b) out.push_back(static_cast<char>((text.size() >> (8 * b)) & 0xff));
  return out + text;
}

void check_written(std::ofstream& f, const std::string& path) {
  ELBO_CHECK(f.good(), path << ": write failed");
}

}  // namespace

int synthetic_label(uint64_t seed, int64_t i) {
  return static_cast<int>(philox_u64(seed, kSyntheticStream, static_cast<uint64_t>(i), 0) % 10);
}

float synthetic_pixel(uint64_t seed, int64_t i, int c, int y, int x, int channels, int h, int w) {
  (void)channels;
  return pixel_of(shape_of(seed, i, h, w), c, y, x);
}

std::string write_synthetic_npy(const std::string& path, int64_t n, int c, int h, int w,
                                uint64_t seed, bool float32) {
  ELBO_CHECK(n > 0 && c > 0 && h > 0 && w > 0,
             "write_synthetic_npy: bad shape " << n << "x" << c << "x" << h << "x" << w);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  ELBO_CHECK(f.is_open(), path << ": cannot create");
  const std::string header = npy_header(float32 ? "<f4" : "|u1", {n, c, h, w});
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  // One sample at a time: large test sets never sit in memory whole.
  const size_t dim = static_cast<size_t>(c) * h * w;
  std::vector<float> fbuf(dim);
  std::vector<uint8_t> ubuf(dim);
  for (int64_t i = 0; i < n; ++i) {
    const SampleShape s = shape_of(seed, i, h, w);
    size_t k = 0;
    for (int ch = 0; ch < c; ++ch)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x, ++k) fbuf[k] = pixel_of(s, ch, y, x);
    if (float32) {
      f.write(reinterpret_cast<const char*>(fbuf.data()), static_cast<std::streamsize>(dim * 4));
    } else {
      for (size_t j = 0; j < dim; ++j) ubuf[j] = static_cast<uint8_t>(std::lround(fbuf[j] * 255.0f));
      f.write(reinterpret_cast<const char*>(ubuf.data()), static_cast<std::streamsize>(dim));
    }
  }
  f.flush();
  check_written(f, path);
  return path;
}

std::string write_synthetic_labels_npy(const std::string& path, int64_t n, uint64_t seed) {
  ELBO_CHECK(n > 0, "write_synthetic_labels_npy: bad count " << n);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  ELBO_CHECK(f.is_open(), path << ": cannot create");
  const std::string header = npy_header("<i8", {n});
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = synthetic_label(seed, i);  // little-endian host (x86_64, aarch64)
    f.write(reinterpret_cast<const char*>(&label), sizeof(label));
  }
  f.flush();
  check_written(f, path);
  return path;
}

std::string make_synthetic_shard_set(const std::string& dir, int64_t n, int c, int h, int w,
                                     int shards, uint64_t seed, bool float32) {
  ConvertOptions options;
  options.image_files = {write_synthetic_npy(dir + "/images.npy", n, c, h, w, seed, float32)};
  options.label_files = {write_synthetic_labels_npy(dir + "/labels.npy", n, seed)};
  options.out_dir = dir + "/set";
  options.shards = shards;
  options.chunk_samples = 16;
  options.overwrite = true;
  return convert_to_shards(options).manifest_path;
}

std::string write_npy(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
                      const std::string& data, int version, bool fortran_order) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  ELBO_CHECK(f.is_open(), path << ": cannot create");
  f << npy_header(descr, shape, version, fortran_order) << data;
  f.flush();
  check_written(f, path);
  return path;
}

std::string write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::string& data,
                      bool gz) {
  std::string bytes("\0\0\x08", 3);
  bytes.push_back(static_cast<char>(dims.size()));
  for (int64_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((d >> shift) & 0xff));
  bytes += data;
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    ELBO_CHECK(f != nullptr, path << ": cannot create");
    const int written = gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    ELBO_CHECK(gzclose(f) == Z_OK && written == static_cast<int>(bytes.size()), path << ": write failed");
  } else {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    ELBO_CHECK(f.is_open(), path << ": cannot create");
    f << bytes;
    f.flush();
    check_written(f, path);
  }
  return path;
}

std::string make_temp_dir(const std::string& prefix) {
  const char* env = getenv("TMPDIR");
  std::string base = (env != nullptr && *env != '\0') ? env : "/tmp";
  std::string name = prefix;
  std::replace(name.begin(), name.end(), '/', '_');
  std::string templ = base + "/" + name + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  ELBO_CHECK(mkdtemp(buf.data()) != nullptr,
             "make_temp_dir: cannot create " << templ << ": " << std::strerror(errno));
  return std::string(buf.data());
}

void unseal_manifest(const std::string& manifest_path) {
  std::ifstream in(manifest_path);
  std::stringstream text;
  text << in.rdbuf();
  in.close();
  const std::regex seal(R"(, file_bytes: [0-9]+, file_crc32: "0x[0-9a-f]+")");
  std::ofstream(manifest_path, std::ios::trunc) << std::regex_replace(text.str(), seal, "");
}

}  // namespace elbo
