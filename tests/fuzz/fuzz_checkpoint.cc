// The checkpoint reader (src/train/checkpoint*.cc) through load_checkpoint: the seal
// check, then HDF5 and the layout and checksum checks. The input is written to a
// scratch file named like a checkpoint.
//
// Inputs that start with HDF5's signature are unsealed files (what elbo wrote before
// seals existed), which load_checkpoint hands to libhdf5 unverified. libhdf5 1.10
// crashes, hangs or over-reads on crafted ones (22 such inputs in a 4-minute campaign,
// all inside libhdf5: docs/reliability.md), so they are skipped (-1) unless
// ELBO_FUZZ_UNSEALED=1: this target keeps to what guards a resume, the seal.
#include <cstdlib>
#include <cstring>

#include "elbo/train/checkpoint.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool unsealed = std::getenv("ELBO_FUZZ_UNSEALED") && std::strcmp(std::getenv("ELBO_FUZZ_UNSEALED"), "1") == 0;
  if (!unsealed && size >= 8 && std::memcmp(data, "\x89HDF\r\n\x1a\n", 8) == 0) return -1;
  const std::string path = elbo::fuzz::write_file("ckpt_000000040.h5", data, size);
  elbo::fuzz::expect_success_or_error([&] { elbo::load_checkpoint(path); });
  return 0;
}
