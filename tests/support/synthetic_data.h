// Small synthetic image data sets for tests: written as .npy files (the same
// format `elbo data convert` reads) and, through convert_to_shards, as shard sets.
//
// Images are not noise: sample i has a class label k = label(seed, i) in 0..9, and
// its image is a soft stroke whose angle is set by k plus a blob at a random place,
// so a VAE (or a conditional VAE given the labels) has structure to learn.
// Everything is a pure function of (seed, i): the same arguments give the same bytes,
// and write_synthetic_labels_npy(seed) gives the labels of write_synthetic_npy(seed).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace elbo {

// Writes a 4-dim .npy [n, c, h, w]: uint8 (0..255) or float32 (0..1). Returns path.
std::string write_synthetic_npy(const std::string& path, int64_t n, int c, int h, int w,
                                uint64_t seed, bool float32 = false);

// Writes the class labels (int64 .npy, values 0..9) of the images above. Returns path.
std::string write_synthetic_labels_npy(const std::string& path, int64_t n, uint64_t seed);

// The label and pixel values behind the files (pixel value in 0..1 before quantising).
int synthetic_label(uint64_t seed, int64_t i);
float synthetic_pixel(uint64_t seed, int64_t i, int c, int y, int x, int channels, int h, int w);

// Writes images + labels as npy under dir, converts them to `shards` shards in
// dir/set, and returns the manifest path. The npy files stay in dir (images.npy,
// labels.npy) so tests can compare against them.
std::string make_synthetic_shard_set(const std::string& dir, int64_t n, int c, int h, int w,
                                     int shards, uint64_t seed, bool float32 = false);

// Removes the whole-file seal (file_bytes, file_crc32) from a manifest, as manifests
// written before the seal lack it: tests that change shard files on purpose use it to
// reach the reader's own checks behind the seal.
void unseal_manifest(const std::string& manifest_path);

// Raw array files, for tests of the input readers (and of their errors).
// write_npy: header version 1, 2 or 3 with the given descr ('|u1', '<f4', ...) and
// shape, then `data` verbatim; fortran_order is written as given.
std::string write_npy(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
                      const std::string& data, int version = 1, bool fortran_order = false);
// write_idx: IDX uint8 (type 0x08) with the given dims, then `data`; gzip when gz.
std::string write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::string& data,
                      bool gz);

// A new, empty, uniquely named directory under $TMPDIR (or /tmp). Not removed
// automatically, so a failing test leaves its files to look at.
std::string make_temp_dir(const std::string& prefix);

}  // namespace elbo

// Also visible unqualified from test code at global scope (TEST bodies).
using elbo::make_synthetic_shard_set;
using elbo::make_temp_dir;
using elbo::synthetic_label;
using elbo::synthetic_pixel;
using elbo::write_synthetic_labels_npy;
using elbo::write_synthetic_npy;
using elbo::write_idx;
using elbo::write_npy;
