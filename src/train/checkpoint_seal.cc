#include "checkpoint_seal.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "elbo/error.h"
#include "elbo/io/crc32.h"

namespace elbo {
namespace {

constexpr char kHdf5Signature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
constexpr const char* kSealMagic = "elbo checkpoint seal 1\n";

struct Digest {
  uint64_t bytes = 0;  // size of the whole file
  uint32_t crc = 0;    // CRC32 of the bytes after the seal
};

// Size and CRC32 of the file beyond its first kSealBytes, read in 1 MiB pieces.
Digest digest_after_seal(std::ifstream& in, const std::string& path) {
  Digest d;
  in.seekg(0, std::ios::end);
  d.bytes = uint64_t(in.tellg());
  ELBO_CHECK(d.bytes >= kSealBytes + sizeof kHdf5Signature,
             "checkpoint " << path << ": " << d.bytes << " bytes, too short to be a checkpoint (truncated)");
  in.seekg(std::streamoff(kSealBytes));
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    d.crc = crc32_bytes(buf.data(), size_t(in.gcount()), d.crc);
  }
  ELBO_CHECK(in.eof(), "checkpoint " << path << ": read error");
  return d;
}

// The seal block for a digest: the text, then zeros up to kSealBytes.
void format_seal(const Digest& d, char (&seal)[kSealBytes]) {
  std::memset(seal, 0, sizeof seal);
  std::snprintf(seal, sizeof seal, "%sbytes %" PRIu64 "\ncrc32 %08" PRIx32 "\n", kSealMagic, d.bytes, d.crc);
}

}  // namespace

void seal_checkpoint_file(const std::string& path) {
  Digest d;
  {
    std::ifstream in(path, std::ios::binary);
    ELBO_CHECK(in, "checkpoint " << path << ": cannot reopen it to seal it");
    d = digest_after_seal(in, path);
  }
  char seal[kSealBytes];
  format_seal(d, seal);
  std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
  ELBO_CHECK(out, "checkpoint " << path << ": cannot open it to write its seal");
  out.write(seal, sizeof seal);
  out.flush();
  ELBO_CHECK(out, "checkpoint " << path << ": writing its seal failed");
}

void verify_checkpoint_seal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ELBO_CHECK(in, "checkpoint " << path << ": cannot open it");
  char head[kSealBytes] = {};
  in.read(head, sizeof head);
  const size_t got = size_t(in.gcount());
  if (got >= sizeof kHdf5Signature && std::memcmp(head, kHdf5Signature, sizeof kHdf5Signature) == 0) {
    // Written before seals: HDF5 starts at offset 0.
    const char* allow = std::getenv("ELBO_ALLOW_UNSEALED_CHECKPOINTS");
    if (allow && std::strcmp(allow, "1") == 0) return;
    throw UnsealedCheckpoint("checkpoint " + path +
                             ": written by an elbo from before checkpoint seals, so it cannot be verified before "
                             "libhdf5 reads it (a damaged one can crash libhdf5). Set "
                             "ELBO_ALLOW_UNSEALED_CHECKPOINTS=1 to read it unverified; the checkpoints written from "
                             "then on are sealed");
  }
  in.clear();
  ELBO_CHECK(got == kSealBytes && std::memcmp(head, kSealMagic, std::strlen(kSealMagic)) == 0,
             "checkpoint " << path << ": no elbo seal at its start (not a checkpoint, or its first bytes are damaged)");
  uint64_t bytes = 0;
  uint32_t crc = 0;
  ELBO_CHECK(std::sscanf(head + std::strlen(kSealMagic), "bytes %" SCNu64 "\ncrc32 %" SCNx32, &bytes, &crc) == 2,
             "checkpoint " << path << ": its seal is damaged");
  // Byte for byte what seal_checkpoint_file writes for these values: no change to the
  // seal block goes unnoticed either.
  char canonical[kSealBytes];
  format_seal(Digest{bytes, crc}, canonical);
  ELBO_CHECK(std::memcmp(canonical, head, kSealBytes) == 0, "checkpoint " << path << ": its seal is damaged");
  const Digest d = digest_after_seal(in, path);
  ELBO_CHECK(d.bytes == bytes, "checkpoint " << path << ": " << d.bytes << " bytes, its seal says " << bytes
                                             << " (truncated or extended after it was written)");
  char want[16], have[16];
  std::snprintf(want, sizeof want, "%08" PRIx32, crc);
  std::snprintf(have, sizeof have, "%08" PRIx32, d.crc);
  ELBO_CHECK(d.crc == crc, "checkpoint " << path << ": CRC32 of its bytes is " << have << ", its seal says " << want
                                         << " (altered after it was written)");
  // The HDF5 file proper must start right after the seal.
  std::ifstream again(path, std::ios::binary);
  char signature[sizeof kHdf5Signature] = {};
  again.seekg(std::streamoff(kSealBytes));
  again.read(signature, sizeof signature);
  ELBO_CHECK(std::memcmp(signature, kHdf5Signature, sizeof signature) == 0,
             "checkpoint " << path << ": no HDF5 file after its seal");
}

}  // namespace elbo
