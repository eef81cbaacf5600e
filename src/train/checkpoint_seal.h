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
// Files written before seals existed (HDF5's signature at offset 0) are read unverified.
#pragma once
#include <cstddef>
#include <string>

namespace elbo {

constexpr size_t kSealBytes = 512;

// Writes the seal into the reserved first kSealBytes of a closed HDF5 file.
void seal_checkpoint_file(const std::string& path);

// Throws elbo::Error naming the file if its seal is missing, damaged or does not match
// its bytes; returns quietly for a sealed file that matches and for an unsealed one.
void verify_checkpoint_seal(const std::string& path);

}  // namespace elbo
