// The HDF5 shard reader (src/data/shard_reader.cc): the input replaces the one shard of
// a set (6 images 4x4 uint8 with labels) whose manifest stays valid; the set is opened,
// read, then opened again with checksum verification. By default the manifest carries
// the whole-file seal, so a changed input must be refused before libhdf5 parses it
// (libhdf5 crashes on some damaged metadata, e.g. a division by zero in H5Dopen2:
// corpus/shard/regress_h5dopen_divide_by_zero.h5). ELBO_FUZZ_UNSEALED=1 removes the
// seal, as in manifests written before it, to fuzz the reader's own checks behind it
// (and libhdf5 with them: see docs/reliability.md).
#include <cstdlib>
#include <regex>
#include <sstream>
#include <vector>

#include "fuzz_support.h"

namespace {
std::string manifest, shard;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  manifest = elbo::fuzz::make_seed_shard_set(elbo::fuzz::scratch_dir() + "/seed", 1);
  shard = std::filesystem::path(manifest).parent_path() / "shard_00000.h5";
  if (std::getenv("ELBO_FUZZ_UNSEALED")) {
    std::ifstream in(manifest);
    std::stringstream text;
    text << in.rdbuf();
    in.close();
    const std::regex seal(R"(, file_bytes: [0-9]+, file_crc32: "0x[0-9a-f]+")");
    std::ofstream(manifest, std::ios::trunc) << std::regex_replace(text.str(), seal, "");
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::ofstream(shard, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), std::streamsize(size));
  elbo::fuzz::expect_success_or_error([&] {
    const elbo::ShardSetInfo info = elbo::open_shard_set(manifest);
    std::vector<float> images(size_t(info.count * info.sample_dim()));
    std::vector<int32_t> labels(size_t(info.count));
    elbo::read_samples(info, 0, info.count, true, images.data(), labels.data());
    elbo::open_shard_set(manifest, /*verify_checksums=*/true);
  });
  return 0;
}
