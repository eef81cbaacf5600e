// The seal of a checkpoint file: its first kSealBytes (an HDF5 user block, which HDF5,
// h5py and h5dump skip) hold the file's size and the CRC32 of everything after them.
// A checkpoint is verified against its seal before HDF5 reads a byte of it: libhdf5
// can crash on damaged metadata (found by mutation testing), and a crash would stop a
// resume that should fall back to the previous checkpoint.
//
//   elbo checkpoint seal 1\n
//   bytes <file size>\n
//   crc32 <8 hex digits>\n
//   (zero bytes up to kSealBytes)
//
// Files written before seals existed (HDF5's signature at offset 0) cannot be verified,
// and libhdf5 crashes or hangs on some damaged ones (docs/reliability.md, fuzzing): they
// are refused unless ELBO_ALLOW_UNSEALED_CHECKPOINTS=1 asks to read them unverified.
#pragma once
#include <cstddef>
#include <string>

#include "elbo/error.h"

namespace elbo {

// An unsealed checkpoint that was not allowed. A resume stops on it rather than
// skipping it: falling back past it could restart a long run from scratch.
class UnsealedCheckpoint : public Error {
 public:
  using Error::Error;
};

constexpr size_t kSealBytes = 512;

// Writes the seal into the reserved first kSealBytes of a closed HDF5 file.
void seal_checkpoint_file(const std::string& path);

// Throws elbo::Error naming the file if its seal is missing, damaged or does not match
// its bytes, UnsealedCheckpoint for an unsealed file unless allowed; returns quietly for
// a sealed file that matches and for an allowed unsealed one.
void verify_checkpoint_seal(const std::string& path);

}  // namespace elbo
