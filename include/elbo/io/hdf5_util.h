// A thin layer over the HDF5 C API: owned handles, float32 datasets, scalar integer and
// string attributes. Failures throw elbo::Error naming "<file>:<object>" and HDF5's own
// reason (e.g. "truncated file: eof = ...").
// Every call below must run inside an h5::Session: it holds the process-wide HDF5 lock.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace elbo::h5 {

// Holds hdf5_mutex() for one file operation and silences HDF5's automatic printing of
// its error stack (restored on exit): failures surface as elbo::Error instead of a dump
// on stderr. HDF5 keeps that setting per thread, hence per session, not once at startup.
class Session {
 public:
  Session();
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
  H5E_auto2_t saved_func_ = nullptr;
  void* saved_data_ = nullptr;
};

// An hid_t released with its own close function (H5Fclose, H5Dclose, ...).
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();

  hid_t get() const { return id_; }
  // Closes now and throws if HDF5 reports a failure (for files: the final flush failed).
  void close();

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

// "<file>:<object path>", for messages.
std::string where(hid_t obj);

// Truncates an existing file. userblock_bytes (0, or a power of two >= 512) reserves that
// many bytes at the start of the file for the caller; HDF5 (and h5py) skip them.
Handle create_file(const std::string& path, size_t userblock_bytes = 0);
Handle open_file(const std::string& path);    // read-only

// Groups track link creation order, so child_names() returns datasets in the order written.
Handle create_group(hid_t parent, const std::string& name);
Handle open_group(hid_t parent, const std::string& name);
bool has_link(hid_t parent, const std::string& name);  // a direct child of parent
std::vector<std::string> child_names(hid_t group);

struct FloatArray {
  std::vector<int64_t> shape;
  std::vector<float> values;
};
// Contiguous float32 dataset (shape {} is a scalar); returns it open, for attributes.
Handle write_floats(hid_t parent, const std::string& name, const std::vector<int64_t>& shape, const float* values);
// The same for integers (int32 labels, int64 indices), stored little-endian.
Handle write_ints(hid_t parent, const std::string& name, const std::vector<int64_t>& shape, const int32_t* values);
Handle write_ints(hid_t parent, const std::string& name, const std::vector<int64_t>& shape, const int64_t* values);
Handle open_dataset(hid_t parent, const std::string& name);
// Datasets written a block of rows at a time (rows: the first dimension), so that a
// writer holds one block, not the whole array: created at their full shape, contiguous
// (as write_floats), each row written exactly once by write_rows.
Handle create_floats(hid_t parent, const std::string& name, const std::vector<int64_t>& shape);
Handle create_ints64(hid_t parent, const std::string& name, const std::vector<int64_t>& shape);
Handle create_ints32(hid_t parent, const std::string& name, const std::vector<int64_t>& shape);
// Rows [first, first + rows) of a dataset made above, from `rows` x (row size) values.
void write_rows(hid_t dataset, int64_t first, int64_t rows, const float* values);
void write_rows(hid_t dataset, int64_t first, int64_t rows, const int64_t* values);
void write_rows(hid_t dataset, int64_t first, int64_t rows, const int32_t* values);
FloatArray read_floats(hid_t dataset);  // checks type float32 and that the stored bytes match the shape

bool has_attr(hid_t obj, const std::string& name);
void write_attr(hid_t obj, const std::string& name, int32_t value);
void write_attr(hid_t obj, const std::string& name, int64_t value);
void write_attr(hid_t obj, const std::string& name, uint32_t value);
void write_attr(hid_t obj, const std::string& name, uint64_t value);
void write_attr(hid_t obj, const std::string& name, const std::string& value);  // variable-length UTF-8

// Integer reads accept any stored integer width that converts without loss; strings may
// be variable- or fixed-length.
template <class T>
T read_attr(hid_t obj, const std::string& name);  // int32_t, int64_t, uint32_t, uint64_t, std::string

}  // namespace elbo::h5
