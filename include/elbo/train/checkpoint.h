// Checkpoints: one HDF5 file per save, written by rank 0 only.
// Layout (readable with h5py / h5dump):
//   /params/<name>          float32 datasets in their layer shapes
//   /optimizer/m/<name>     Adam first moments, same shapes
//   /optimizer/v/<name>     Adam second moments (Adamax: the infinity norm)
//   /ema/<name>             the weight average (train.ema_decay > 0 only)
//   attributes on /: step, epoch, cursor (global sample cursor), seed, world_size,
//     config (effective YAML), model_config (model section YAML), format_version,
//     skipped_nonfinite, skipped_over_threshold (steps the update guard skipped; absent
//     in files of earlier builds: 0)
//   attribute on each dataset: checksum (uint32 CRC32 of its float32 bytes)
// Writes go to <file>.tmp, are flushed and fsync'ed, then renamed; the last K are kept.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "elbo/tensor.h"

namespace elbo {

struct NamedArray {
  std::string name;               // e.g. "encoder.0.weight"
  std::vector<int64_t> shape;
  std::vector<float> values;      // row-major, prod(shape) values
};

struct CheckpointState {
  std::vector<NamedArray> params;
  std::vector<NamedArray> adam_m;  // same names and shapes as params (empty before the first step)
  std::vector<NamedArray> adam_v;
  std::vector<NamedArray> ema;     // same names and shapes as params; empty without a weight average
  int64_t step = 0;                // optimiser steps done
  int64_t epoch = 0;               // epoch of the next sample
  int64_t cursor = 0;              // global sample cursor: samples consumed since the start of training
  uint64_t seed = 0;
  int world_size = 1;              // world size that wrote it (information only; resume works on any)
  std::string config_yaml;         // effective config
  std::string model_config_yaml;   // model section only
  int64_t skipped_nonfinite = 0;   // UpdateGuard::Counts of the run so far
  int64_t skipped_over_threshold = 0;
  // One input's shape, (1, C, H, W), that the model was trained on; n = 0 where unknown
  // (checkpoints written before it was recorded). A convolutional model's weights fit
  // images of many sizes, so only this record catches images of another shape.
  Shape sample;
};

// Throws, naming the checkpoint and data_key's set (manifest), when the checkpoint records
// a sample shape other than sample's. Passes for checkpoints that record none.
void check_checkpoint_sample_shape(const CheckpointState& state, const std::string& path, const Shape& sample,
                                   const std::string& data_key, const std::string& manifest);

// For the error path of building a model for images of `sample` (a conv model whose
// strides do not fit them): when the checkpoint about to be loaded (`requested`, or else
// the newest valid one of run_dir) holds this model (model_config_yaml) trained on images
// of another shape, throws check_checkpoint_sample_shape's error, which names the real
// cause; otherwise returns (the caller rethrows the model's own error). Reads the
// checkpoint only on this path.
void explain_by_checkpoint_sample_shape(const std::string& requested, const std::string& run_dir,
                                        const std::string& model_config_yaml, const Shape& sample,
                                        const std::string& data_key, const std::string& manifest);

// Path of the checkpoint for a step: <dir>/checkpoints/ckpt_<step, 9 digits>.h5
std::string checkpoint_path(const std::string& run_dir, int64_t step);

// Atomic write (tmp + fsync + rename), then deletes all but the newest `keep` checkpoints.
// Refuses (an Error, nothing written or deleted) a state holding NaN or infinity.
// before_publish runs between the temporary file's fsync and its rename (fault injection).
void save_checkpoint(const std::string& run_dir, const CheckpointState& state, int keep,
                     const std::function<void()>& before_publish = {});

// Reads and verifies one file (structure, shapes, checksums). Throws elbo::Error naming
// the file and what is wrong.
CheckpointState load_checkpoint(const std::string& path);

// The checkpoints in <run_dir>/checkpoints, newest first (by step).
std::vector<std::string> list_checkpoints(const std::string& run_dir);

struct ResumeResult {
  bool found = false;
  std::string path;
  CheckpointState state;
  std::vector<std::string> warnings;  // one per checkpoint skipped as unreadable / corrupt
};
// The newest checkpoint that loads and verifies; corrupt ones are skipped with a
// warning (never deleted). found=false when there is none.
ResumeResult find_latest_valid_checkpoint(const std::string& run_dir);

}  // namespace elbo
