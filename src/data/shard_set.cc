// open_shard_set, describe_shard_set and read_samples: whole-set operations over
// the manifest and its shard files.
#include "elbo/data/shard_set.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>
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

struct FileSeal {
  int64_t bytes = 0;
  uint32_t crc32 = 0;
};

// Size and CRC32 of a whole file, read as raw bytes (never through libhdf5).
FileSeal file_seal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ELBO_CHECK(in.is_open(), path << ": cannot open to checksum it");
  FileSeal seal;
  // A small buffer: this runs on every rank at start, next to the loader's memory budget.
  std::vector<char> buf(size_t(64) << 10);
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    const std::streamsize n = in.gcount();
    seal.crc32 = crc32_bytes(buf.data(), size_t(n), seal.crc32);
    seal.bytes += n;
  }
  ELBO_CHECK(in.eof(), path << ": read failed while checksumming");
  return seal;
}

// The shard file is the one the manifest was written for: its size always, and its
// CRC32 when check_crc (libhdf5 parses a file's metadata on open and can crash on
// damaged metadata, so a changed file is refused before it gets there).
void check_file_seal(const std::string& path, const std::string& manifest_path, const ShardInfo& shard,
                     bool check_crc) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  ELBO_CHECK(!ec, path << ": cannot read its size: " << ec.message());
  ELBO_CHECK(int64_t(bytes) == shard.file_bytes,
             path << ": the file changed since " << manifest_path << " was written (" << bytes
                  << " bytes, the manifest says " << shard.file_bytes
                  << "); convert the data again or restore the original shard");
  if (!check_crc) return;
  const FileSeal seal = file_seal(path);
  ELBO_CHECK(seal.crc32 == shard.file_crc32,
             path << ": the file changed since " << manifest_path << " was written (CRC32 " << detail::crc_text(seal.crc32)
                  << ", the manifest says " << detail::crc_text(shard.file_crc32)
                  << "); convert the data again or restore the original shard");
}

}  // namespace

void seal_shard_file(const std::string& path, ShardInfo& shard) {
  const FileSeal seal = file_seal(path);
  shard.file_bytes = seal.bytes;
  shard.file_crc32 = seal.crc32;
}

ShardSetInfo open_shard_set(const std::string& manifest_path, bool verify_checksums) {
  ShardSetInfo info = detail::read_manifest(manifest_path);
  int64_t sealed_bytes = 0;
  for (const ShardInfo& shard : info.shards) sealed_bytes += shard.file_bytes;
  const bool check_crc = verify_checksums || sealed_bytes <= kShardSealMaxBytes;
  for (const ShardInfo& shard : info.shards) {
    const std::string path = detail::shard_file_path(info, shard);
    if (shard.file_bytes > 0) check_file_seal(path, manifest_path, shard, check_crc);
    detail::ShardReader reader(path, info, shard.count);
    if (verify_checksums) {
      const uint32_t crc = shard_crc(reader, info.bytes_per_sample());
      ELBO_CHECK(crc == shard.crc32, path << ": CRC32 of /images is " << detail::crc_text(crc) << ", manifest "
                                          << manifest_path << " says " << detail::crc_text(shard.crc32)
                                          << " (the shard was modified or damaged)");
    }
  }
  return info;
}

std::string shard_file_of(const ShardSetInfo& info, int64_t sample) {
  for (const ShardInfo& shard : info.shards)
    if (sample >= shard.first && sample < shard.first + shard.count) return detail::shard_file_path(info, shard);
  return "no shard holds sample " + std::to_string(sample);
}

void check_label_range(const ShardSetInfo& info, int classes, const std::string& key) {
  for (const ShardInfo& shard : info.shards) {
    if (!shard.has_label_range || (shard.label_min >= 0 && shard.label_max < classes)) continue;
    const int32_t label = shard.label_max >= classes ? shard.label_max : shard.label_min;
    ELBO_FAIL(key << ": " << detail::shard_file_path(info, shard) << " holds label " << label << ", outside 0.."
                  << classes - 1 << " (model.classes = " << classes << "; labels " << shard.label_min << ".."
                  << shard.label_max << " in " << info.manifest_path << "); raise model.classes or fix the labels");
  }
}

std::string describe_shard_set(const ShardSetInfo& info) {
  std::ostringstream os;
  const double mib = double(info.count) * double(info.bytes_per_sample()) / (1024.0 * 1024.0);
  os << "shard set   " << info.manifest_path << "\n";
  os << "samples     " << info.count << "\n";
  os << "image       " << info.channels << "x" << info.height << "x" << info.width << " "
     << detail::pixel_type_name(info.dtype) << " (" << info.bytes_per_sample() << " bytes per sample)\n";
  os << "labels      " << (info.has_labels ? "yes" : "no");
  const bool ranges = info.has_labels && std::all_of(info.shards.begin(), info.shards.end(),
                                                     [](const ShardInfo& s) { return s.has_label_range; });
  if (ranges) {
    int32_t lo = info.shards.front().label_min, hi = info.shards.front().label_max;
    for (const ShardInfo& s : info.shards) lo = std::min(lo, s.label_min), hi = std::max(hi, s.label_max);
    os << " (" << lo << ".." << hi << ")";
  }
  os << "\n";
  char size[32];
  std::snprintf(size, sizeof size, "%.2f", mib);
  os << "data        " << size << " MiB in " << info.shards.size() << " shard"
     << (info.shards.size() == 1 ? "" : "s") << "\n";
  for (const ShardInfo& s : info.shards)
    os << "  " << s.file << "  samples " << s.first << ".." << s.first + s.count - 1 << " (" << s.count
       << ")  crc32 " << detail::crc_text(s.crc32) << "\n";
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
