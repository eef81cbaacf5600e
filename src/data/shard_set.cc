// open_shard_set, describe_shard_set and read_samples: whole-set operations over
// the manifest and its shard files.
#include "elbo/data/shard_set.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "elbo/error.h"
#include "elbo/io/crc32.h"
#include "manifest.h"
#include "pixels.h"
#include "shard_file.h"

namespace elbo {
namespace {

// Checksums are computed over slabs of about this many bytes.
constexpr int64_t kVerifySlabBytes = 8 << 20;

uint32_t shard_crc(detail::ShardReader& reader, int64_t bytes_per_sample) {
  const int64_t slab = std::max<int64_t>(1, kVerifySlabBytes / bytes_per_sample);
  std::vector<unsigned char> buf(static_cast<size_t>(std::min(slab, reader.count()) * bytes_per_sample));
  uint32_t crc = 0;
  for (int64_t begin = 0; begin < reader.count(); begin += slab) {
    const int64_t n = std::min(slab, reader.count() - begin);
    reader.read_range(begin, n, buf.data(), nullptr);
    crc = crc32_bytes(buf.data(), static_cast<size_t>(n * bytes_per_sample), crc);
  }
  return crc;
}

std::string crc_hex(uint32_t crc) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", crc);
  return buf;
}

}  // namespace

ShardSetInfo open_shard_set(const std::string& manifest_path, bool verify_checksums) {
  ShardSetInfo info = detail::read_manifest(manifest_path);
  for (const ShardInfo& shard : info.shards) {
    const std::string path = detail::shard_file_path(info, shard);
    detail::ShardReader reader(path, info, shard.count);
    if (verify_checksums) {
      const uint32_t crc = shard_crc(reader, info.bytes_per_sample());
      ELBO_CHECK(crc == shard.crc32, path << ": CRC32 of /images is " << crc_hex(crc) << ", manifest "
                                          << manifest_path << " says " << crc_hex(shard.crc32)
                                          << " (the shard was modified or damaged)");
    }
  }
  return info;
}

std::string describe_shard_set(const ShardSetInfo& info) {
  std::ostringstream os;
  const double mib = double(info.count) * double(info.bytes_per_sample()) / (1024.0 * 1024.0);
  os << "shard set   " << info.manifest_path << "\n";
  os << "samples     " << info.count << "\n";
  os << "image       " << info.channels << "x" << info.height << "x" << info.width << " "
     << detail::pixel_type_name(info.dtype) << " (" << info.bytes_per_sample() << " bytes per sample)\n";
  os << "labels      " << (info.has_labels ? "yes" : "no") << "\n";
  char size[32];
  std::snprintf(size, sizeof size, "%.2f", mib);
  os << "data        " << size << " MiB in " << info.shards.size() << " shard"
     << (info.shards.size() == 1 ? "" : "s") << "\n";
  for (const ShardInfo& s : info.shards)
    os << "  " << s.file << "  samples " << s.first << ".." << s.first + s.count - 1 << " (" << s.count
       << ")  crc32 " << crc_hex(s.crc32) << "\n";
  return os.str();
}

void read_samples(const ShardSetInfo& info, int64_t begin, int64_t count, bool scale, float* out,
                  int32_t* labels_out) {
  ELBO_CHECK(begin >= 0 && count >= 0 && begin + count <= info.count,
             info.manifest_path << ": samples " << begin << ".." << begin + count - 1
                                << " are outside the set's 0.." << info.count - 1);
  ELBO_CHECK(labels_out == nullptr || info.has_labels,
             info.manifest_path << ": labels requested but the shard set has none");
  const detail::PixelTransform transform{info.dtype, scale, -1.0f};
  const int64_t dim = info.sample_dim();
  std::vector<unsigned char> raw;
  for (const ShardInfo& shard : info.shards) {
    const int64_t lo = std::max(begin, shard.first);
    const int64_t hi = std::min(begin + count, shard.first + shard.count);
    if (lo >= hi) continue;
    detail::ShardReader reader(detail::shard_file_path(info, shard), info, shard.count);
    raw.resize(static_cast<size_t>((hi - lo) * info.bytes_per_sample()));
    reader.read_range(lo - shard.first, hi - lo, raw.data(),
                      labels_out != nullptr ? labels_out + (lo - begin) : nullptr);
    transform.apply(raw.data(), (hi - lo) * dim, out + (lo - begin) * dim);
  }
}

}  // namespace elbo
