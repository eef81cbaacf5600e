#include <filesystem>

#include "elbo/error.h"
#include "manifest.h"
#include "shard_file.h"

namespace elbo::detail {
namespace {

// Chunk-cache hash slots: a prime, ample for the few chunks a bounded cache holds.
constexpr size_t kChunkCacheSlots = 1009;

// "uint8", "float32", "int16", ...: the words the manifest's dtype uses.
std::vector<hsize_t> dataset_dims(hid_t dataset) {
  h5::Handle space(H5Dget_space(dataset), H5Sclose);
  const int rank = space.get() >= 0 ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (rank < 0) return {};
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims;
}

// "[100,1,32,32]"
std::string format_dims(const std::vector<hsize_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? "," : "") + std::to_string(dims[i]);
  return out + "]";
}

std::string type_description(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t bits = H5Tget_size(type) * 8;
  if (cls == H5T_INTEGER)
    return std::string(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
  if (cls == H5T_FLOAT) return "float" + std::to_string(bits);
  return "a non-numeric type";
}

// libhdf5 (1.10) trusts a dataset's layout message: chunk dimensions or chunk sizes that
// disagree with what is stored make H5Dread read past its own buffers or allocate
// gigabytes (fuzz_shard found a heap overflow, a SEGV and 4-16 GiB allocations in files
// that passed every other check). Unfiltered data, as elbo and h5py write it, occupies
// exactly the bytes its shape and layout imply: check that before any read.
// (Compressed chunks have no fixed size and are not checked.)
void check_stored_bytes(hid_t dataset, const std::vector<hsize_t>& dims, const std::string& what) {
  h5::Handle dcpl(H5Dget_create_plist(dataset), H5Pclose);
  h5::Handle type(H5Dget_type(dataset), H5Tclose);
  ELBO_CHECK(dcpl.get() >= 0 && type.get() >= 0, what << ": cannot read its layout (file damaged?)");
  if (H5Pget_nfilters(dcpl.get()) != 0) return;
  std::vector<hsize_t> chunk(dims);
  if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED)
    ELBO_CHECK(H5Pget_chunk(dcpl.get(), int(chunk.size()), chunk.data()) == int(dims.size()),
               what << ": chunk rank differs from the dataset's (file damaged?)");
  hsize_t expected = H5Tget_size(type.get());
  bool overflow = false;
  for (size_t i = 0; i < dims.size(); ++i) {
    ELBO_CHECK(chunk[i] > 0, what << ": chunk dimension " << i << " is 0 (file damaged?)");
    const hsize_t extent = (dims[i] + chunk[i] - 1) / chunk[i] * chunk[i];  // whole chunks
    overflow = overflow || __builtin_mul_overflow(expected, extent, &expected);
  }
  const hsize_t stored = H5Dget_storage_size(dataset);
  ELBO_CHECK(!overflow && stored == expected, what << ": stores " << stored << " bytes but its shape and layout need "
                                                   << (overflow ? std::string("more than 2^64") : std::to_string(expected))
                                                   << " (file damaged, or not completely written)");
}

}  // namespace

ShardReader::ShardReader(const std::string& path, const ShardSetInfo& set, int64_t expected_count,
                         int64_t chunk_cache_bytes)
    : path_(path), count_(expected_count), dtype_(set.dtype) {
  namespace fs = std::filesystem;
  std::error_code ec;
  ELBO_CHECK(fs::exists(path, ec), "shard file " << path << " does not exist (listed in "
                                                 << set.manifest_path << ")");
  const auto size = fs::file_size(path, ec);
  // Handles are locals declared after the session, moved into members at the end:
  // when a check throws they close while the lock is still held.
  h5::Session session;
  h5::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  ELBO_CHECK(file.get() >= 0, path << ": cannot open as HDF5 (truncated or not an HDF5 file; "
                                   << (ec ? 0 : size) << " bytes)");
  ELBO_CHECK(H5Lexists(file.get(), "images", H5P_DEFAULT) > 0, path << ": has no /images dataset");

  h5::Handle images(H5Dopen2(file.get(), "images", H5P_DEFAULT), H5Dclose);
  ELBO_CHECK(images.get() >= 0, path << ": cannot open /images (file damaged?)");
  if (chunk_cache_bytes >= 0) {
    // Unfiltered chunks (what convert writes) are best not cached at all: HDF5 then
    // reads exactly the selected samples from the file, whereas a cached chunk is
    // read whole (chunk_samples times the bytes on random access) and, measured
    // with HDF5 1.10, cached chunk buffers pile up on HDF5's free lists far beyond
    // the cache size. Compressed chunks must be decoded whole, so those get the
    // bounded cache. The dataset is reopened with the chosen access property list.
    h5::Handle dcpl(H5Dget_create_plist(images.get()), H5Pclose);
    const bool filtered = H5Pget_nfilters(dcpl.get()) > 0;
    h5::Handle dapl(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
    H5Pset_chunk_cache(dapl.get(), kChunkCacheSlots, filtered ? static_cast<size_t>(chunk_cache_bytes) : 0, 1.0);
    images = h5::Handle(H5Dopen2(file.get(), "images", dapl.get()), H5Dclose);
    ELBO_CHECK(images.get() >= 0, path << ": cannot open /images (file damaged?)");
  }

  dims_ = dataset_dims(images.get());
  const bool shape_ok = dims_.size() == 4 && dims_[1] == hsize_t(set.channels) &&
                        dims_[2] == hsize_t(set.height) && dims_[3] == hsize_t(set.width);
  ELBO_CHECK(shape_ok, path << ": /images has shape " << format_dims(dims_) << ", manifest says "
                            << set.channels << "x" << set.height << "x" << set.width);
  ELBO_CHECK(dims_[0] == hsize_t(expected_count), path << ": /images holds " << dims_[0]
                                                       << " samples, manifest says " << expected_count);
  {
    h5::Handle type(H5Dget_type(images.get()), H5Tclose);
    const std::string actual = type_description(type.get());
    ELBO_CHECK(actual == pixel_type_name(set.dtype),
               path << ": /images is " << actual << ", manifest says dtype " << pixel_type_name(set.dtype));
  }
  check_stored_bytes(images.get(), dims_, path + ": /images");

  h5::Handle labels;
  if (set.has_labels) {
    ELBO_CHECK(H5Lexists(file.get(), "labels", H5P_DEFAULT) > 0,
               path << ": has no /labels dataset, manifest says has_labels: true");
    labels = h5::Handle(H5Dopen2(file.get(), "labels", H5P_DEFAULT), H5Dclose);
    ELBO_CHECK(labels.get() >= 0, path << ": cannot open /labels (file damaged?)");
    const std::vector<hsize_t> ldims = dataset_dims(labels.get());
    ELBO_CHECK(ldims.size() == 1 && ldims[0] == hsize_t(expected_count),
               path << ": /labels has shape " << format_dims(ldims) << ", expected [" << expected_count << "]");
    h5::Handle type(H5Dget_type(labels.get()), H5Tclose);
    ELBO_CHECK(H5Tget_class(type.get()) == H5T_INTEGER && H5Tget_size(type.get()) <= 8,
               path << ": /labels is not an integer dataset of up to 64 bits");
    check_stored_bytes(labels.get(), ldims, path + ": /labels");
  }
  file_ = std::move(file);
  images_ = std::move(images);
  labels_ = std::move(labels);
}

ShardReader::~ShardReader() {
  h5::Session session;
  labels_ = h5::Handle();
  images_ = h5::Handle();
  file_ = h5::Handle();
}

void ShardReader::read_run(int64_t begin, int64_t n, void* images, int32_t* labels) {
  const hsize_t start[4] = {hsize_t(begin), 0, 0, 0};
  const hsize_t counts[4] = {hsize_t(n), dims_[1], dims_[2], dims_[3]};
  h5::Handle space(H5Dget_space(images_.get()), H5Sclose);
  H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, counts, nullptr);
  h5::Handle mspace(H5Screate_simple(4, counts, nullptr), H5Sclose);
  const hid_t mem_type = dtype_ == PixelType::kUInt8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT;
  ELBO_CHECK(H5Dread(images_.get(), mem_type, mspace.get(), space.get(), H5P_DEFAULT, images) >= 0,
             path_ << ": reading /images samples " << begin << ".." << begin + n - 1
                   << " failed (file damaged or truncated?)");
  if (labels != nullptr) {
    ELBO_CHECK(labels_.get() >= 0, path_ << ": labels requested but the shard set has none");
    h5::Handle lspace(H5Dget_space(labels_.get()), H5Sclose);
    H5Sselect_hyperslab(lspace.get(), H5S_SELECT_SET, start, nullptr, counts, nullptr);
    h5::Handle lmspace(H5Screate_simple(1, counts, nullptr), H5Sclose);
    ELBO_CHECK(H5Dread(labels_.get(), H5T_NATIVE_INT32, lmspace.get(), lspace.get(), H5P_DEFAULT, labels) >= 0,
               path_ << ": reading /labels " << begin << ".." << begin + n - 1
                     << " failed (file damaged or truncated?)");
  }
}

void ShardReader::read_range(int64_t begin, int64_t n, void* images, int32_t* labels) {
  ELBO_CHECK(begin >= 0 && n > 0 && begin + n <= count_,
             path_ << ": samples " << begin << ".." << begin + n - 1 << " are outside 0.." << count_ - 1);
  h5::Session session;
  read_run(begin, n, images, labels);
}

void ShardReader::read_rows(const std::vector<int64_t>& rows, void* images, int32_t* labels) {
  if (rows.empty()) return;
  for (size_t i = 0; i < rows.size(); ++i)
    ELBO_CHECK(rows[i] >= 0 && rows[i] < count_ && (i == 0 || rows[i] > rows[i - 1]),
               path_ << ": row list must be increasing within 0.." << count_ - 1 << " (row " << rows[i] << ")");
  const int64_t bps = int64_t(dims_[1] * dims_[2] * dims_[3]) * (dtype_ == PixelType::kUInt8 ? 1 : 4);
  h5::Session session;
  // One simple hyperslab read per run of consecutive rows. (HDF5 1.10 handles a
  // union of hyperslabs in one H5Dread about 100x slower than these reads.)
  for (size_t i = 0; i < rows.size();) {
    size_t j = i + 1;
    while (j < rows.size() && rows[j] == rows[j - 1] + 1) ++j;
    read_run(rows[i], int64_t(j - i), static_cast<unsigned char*>(images) + i * bps,
             labels != nullptr ? labels + i : nullptr);
    i = j;
  }
}

}  // namespace elbo::detail
