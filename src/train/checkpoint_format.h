// The HDF5 layout of one checkpoint file (private to src/train): write_checkpoint_file
// only writes; atomicity, naming and retention live in checkpoint.cc.
#pragma once
#include <string>

#include "elbo/train/checkpoint.h"

namespace elbo {

constexpr int32_t kCheckpointFormatVersion = 1;

// Checks the state (names, shapes, m/v layout) and writes it to `path`, flushed and
// closed; the caller makes it durable and renames it.
void write_checkpoint_file(const std::string& path, const CheckpointState& state);

}  // namespace elbo
