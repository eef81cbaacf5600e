#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "elbo/error.h"
#include "elbo/io/crc32.h"
#include "shard_file.h"

namespace elbo::detail {
namespace {

// Labels are tiny next to images: chunk them in larger runs.
constexpr hsize_t kLabelChunk = 4096;

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  ELBO_CHECK(fd >= 0, path << ": cannot reopen to fsync");
  const int rc = ::fsync(fd);
  ::close(fd);
  ELBO_CHECK(rc == 0, path << ": fsync failed");
}

}  // namespace

ShardWriter::ShardWriter(const std::string& path, int64_t count, int channels, int height, int width,
                         PixelType dtype, bool has_labels, int64_t chunk_samples)
    : path_(path), count_(count), has_labels_(has_labels), dtype_(dtype) {
  ELBO_CHECK(count > 0 && chunk_samples > 0, path << ": bad shard size " << count << " / chunk " << chunk_samples);
  dims_ = {hsize_t(count), hsize_t(channels), hsize_t(height), hsize_t(width)};
  bytes_per_sample_ = int64_t(channels) * height * width * (dtype == PixelType::kUInt8 ? 1 : 4);
  // Handles are built as locals declared after the session: if a check throws, they
  // close before the lock is released.
  h5::Session session;
  h5::Handle file(H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  ELBO_CHECK(file.get() >= 0, path << ": cannot create HDF5 file (does it exist already, or is the directory not writable?)");

  h5::Handle space(H5Screate_simple(4, dims_.data(), nullptr), H5Sclose);
  h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  const hsize_t chunk[4] = {std::min<hsize_t>(hsize_t(chunk_samples), dims_[0]), dims_[1], dims_[2], dims_[3]};
  ELBO_CHECK(H5Pset_chunk(dcpl.get(), 4, chunk) >= 0,
             path << ": cannot use an HDF5 chunk of " << chunk[0] << " samples (chunks must stay under 4 GiB)");
  const hid_t file_type = dtype == PixelType::kUInt8 ? H5T_STD_U8LE : H5T_IEEE_F32LE;
  h5::Handle images(H5Dcreate2(file.get(), "images", file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                    H5Dclose);
  ELBO_CHECK(images.get() >= 0, path << ": cannot create /images");

  h5::Handle labels;
  if (has_labels) {
    const hsize_t n = dims_[0];
    const hsize_t label_chunk = std::min(n, kLabelChunk);
    h5::Handle lspace(H5Screate_simple(1, &n, nullptr), H5Sclose);
    h5::Handle lcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(lcpl.get(), 1, &label_chunk);
    labels = h5::Handle(H5Dcreate2(file.get(), "labels", H5T_STD_I32LE, lspace.get(), H5P_DEFAULT, lcpl.get(),
                                   H5P_DEFAULT),
                        H5Dclose);
    ELBO_CHECK(labels.get() >= 0, path << ": cannot create /labels");
  }
  file_ = std::move(file);
  images_ = std::move(images);
  labels_ = std::move(labels);
}

ShardWriter::~ShardWriter() {
  h5::Session session;
  labels_ = h5::Handle();
  images_ = h5::Handle();
  file_ = h5::Handle();
}

void ShardWriter::append(const void* images, const int32_t* labels, int64_t n) {
  ELBO_CHECK(written_ + n <= count_, path_ << ": writing samples up to " << written_ + n
                                           << " into a shard of " << count_);
  ELBO_CHECK(!has_labels_ || labels != nullptr, path_ << ": labels missing for samples " << written_);
  h5::Session session;
  const hsize_t start[4] = {hsize_t(written_), 0, 0, 0};
  const hsize_t counts[4] = {hsize_t(n), dims_[1], dims_[2], dims_[3]};
  h5::Handle fspace(H5Dget_space(images_.get()), H5Sclose);
  H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, counts, nullptr);
  h5::Handle mspace(H5Screate_simple(4, counts, nullptr), H5Sclose);
  const hid_t mem_type = dtype_ == PixelType::kUInt8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT;
  ELBO_CHECK(H5Dwrite(images_.get(), mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, images) >= 0,
             path_ << ": writing /images samples " << written_ << ".." << written_ + n - 1
                   << " failed (disk full?)");
  crc_ = crc32_bytes(images, static_cast<size_t>(n * bytes_per_sample_), crc_);
  if (has_labels_) {
    h5::Handle lfspace(H5Dget_space(labels_.get()), H5Sclose);
    H5Sselect_hyperslab(lfspace.get(), H5S_SELECT_SET, start, nullptr, counts, nullptr);
    h5::Handle lmspace(H5Screate_simple(1, counts, nullptr), H5Sclose);
    ELBO_CHECK(H5Dwrite(labels_.get(), H5T_NATIVE_INT32, lmspace.get(), lfspace.get(), H5P_DEFAULT, labels) >= 0,
               path_ << ": writing /labels failed (disk full?)");
  }
  written_ += n;
}

uint32_t ShardWriter::finish() {
  ELBO_CHECK(written_ == count_, path_ << ": only " << written_ << " of " << count_ << " samples written");
  {
    h5::Session session;
    labels_.close();
    images_.close();
    file_.close();  // throws when the final flush fails
  }
  fsync_path(path_);
  return crc_;
}

}  // namespace elbo::detail
