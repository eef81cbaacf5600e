#include "elbo/io/hdf5_util.h"

#include <algorithm>
#include <type_traits>

#include "elbo/error.h"
#include "elbo/io/hdf5_lock.h"

namespace elbo::h5 {
namespace {

// The innermost entry of HDF5's error stack: the specific reason ("truncated file: ...",
// "file signature not found") rather than the API call that failed. Must run before any
// other HDF5 call, since each API entry clears the stack.
std::string hdf5_reason() {
  std::string reason;
  auto walk = [](unsigned n, const H5E_error2_t* e, void* out) -> herr_t {
    if (n == 0 && e->desc != nullptr) *static_cast<std::string*>(out) = e->desc;
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk, &reason);
  return reason.empty() ? "unknown HDF5 error" : reason;
}

[[noreturn]] void fail(hid_t obj, const std::string& what) {
  std::string reason = hdf5_reason();  // first: where() would clear the stack
  std::string loc = obj >= 0 ? where(obj) + ": " : std::string();
  ELBO_FAIL(loc << what << " (" << reason << ")");
}

hid_t check_id(hid_t id, hid_t obj, const std::string& what) {
  if (id < 0) fail(obj, what);
  return id;
}

void check_status(herr_t status, hid_t obj, const std::string& what) {
  if (status < 0) fail(obj, what);
}

std::string get_name(hid_t obj, ssize_t (*getter)(hid_t, char*, size_t)) {
  ssize_t n = getter(obj, nullptr, 0);
  if (n <= 0) return "?";
  std::string s(static_cast<size_t>(n) + 1, '\0');
  getter(obj, s.data(), s.size());
  s.resize(static_cast<size_t>(n));
  return s;
}

Handle scalar_space() { return Handle(H5Screate(H5S_SCALAR), H5Sclose); }

void write_scalar(hid_t obj, const std::string& name, hid_t file_type, hid_t mem_type, const void* value) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  Handle space = scalar_space();
  Handle attr(check_id(H5Acreate2(obj, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), obj,
                       "cannot create attribute '" + name + "'"),
              H5Aclose);
  check_status(H5Awrite(attr.get(), mem_type, value), obj, "cannot write attribute '" + name + "'");
}

Handle open_scalar_attr(hid_t obj, const std::string& name) {
  ELBO_CHECK(has_attr(obj, name), where(obj) << ": missing attribute '" << name << "'");
  Handle attr(check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), obj, "cannot open attribute '" + name + "'"), H5Aclose);
  Handle space(H5Aget_space(attr.get()), H5Sclose);
  ELBO_CHECK(H5Sget_simple_extent_npoints(space.get()) == 1,
             where(obj) << ": attribute '" << name << "': expected a single value");
  return attr;
}

template <class T>
T read_int_attr(hid_t obj, const std::string& name, hid_t mem_type) {
  Handle attr = open_scalar_attr(obj, name);
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  ELBO_CHECK(H5Tget_class(type.get()) == H5T_INTEGER, where(obj)
                                                          << ": attribute '" << name << "': expected an integer");
  // Accept only widths that convert without loss: HDF5 would silently clip otherwise.
  size_t size = H5Tget_size(type.get());
  bool is_signed = H5Tget_sign(type.get()) == H5T_SGN_2;
  bool fits =
      std::is_signed_v<T> ? (is_signed ? size <= sizeof(T) : size < sizeof(T)) : (!is_signed && size <= sizeof(T));
  ELBO_CHECK(fits, where(obj) << ": attribute '" << name << "': a " << (is_signed ? "signed" : "unsigned") << " "
                              << 8 * size << "-bit integer does not fit the expected "
                              << (std::is_signed_v<T> ? "signed " : "unsigned ") << 8 * sizeof(T) << "-bit one");
  T value{};
  check_status(H5Aread(attr.get(), mem_type, &value), obj, "cannot read attribute '" + name + "'");
  return value;
}

}  // namespace

Session::Session() : lock_(hdf5_mutex()) {
  H5Eget_auto2(H5E_DEFAULT, &saved_func_, &saved_data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

Session::~Session() { H5Eset_auto2(H5E_DEFAULT, saved_func_, saved_data_); }

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    if (id_ >= 0) close_(id_);
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

Handle::~Handle() {
  if (id_ >= 0) close_(id_);  // errors on this path are already being reported by the caller
}

void Handle::close() {
  if (id_ < 0) return;
  hid_t id = id_;
  std::string label = where(id);
  id_ = H5I_INVALID_HID;
  if (close_(id) < 0) {
    std::string reason = hdf5_reason();
    ELBO_FAIL(label << ": close failed (" << reason << ")");
  }
}

std::string where(hid_t obj) { return get_name(obj, H5Fget_name) + ":" + get_name(obj, H5Iget_name); }

Handle create_file(const std::string& path, size_t userblock_bytes) {
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  if (userblock_bytes && H5Pset_userblock(fcpl.get(), hsize_t(userblock_bytes)) < 0)
    fail(H5I_INVALID_HID, "cannot reserve a " + std::to_string(userblock_bytes) + "-byte user block in " + path);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT);
  if (f < 0) fail(H5I_INVALID_HID, "cannot create HDF5 file " + path);
  return Handle(f, H5Fclose);
}

Handle open_file(const std::string& path) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) fail(H5I_INVALID_HID, "cannot open HDF5 file " + path);
  return Handle(f, H5Fclose);
}

Handle create_group(hid_t parent, const std::string& name) {
  Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  return Handle(check_id(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), parent,
                         "cannot create group '" + name + "'"),
                H5Gclose);
}

Handle open_group(hid_t parent, const std::string& name) {
  ELBO_CHECK(has_link(parent, name), where(parent) << ": missing group '" << name << "'");
  return Handle(check_id(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), parent, "'" + name + "' is not a group"),
                H5Gclose);
}

bool has_link(hid_t parent, const std::string& name) { return H5Lexists(parent, name.c_str(), H5P_DEFAULT) > 0; }

std::vector<std::string> child_names(hid_t group) {
  // Creation order when the writer tracked it (ours always do), name order otherwise.
  Handle gcpl(H5Gget_create_plist(group), H5Pclose);
  unsigned order_flags = 0;
  H5Pget_link_creation_order(gcpl.get(), &order_flags);
  H5_index_t index = (order_flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  std::vector<std::string> names;
  // Generic in the info type: H5L_info_t in HDF5 1.10, H5L_info2_t from 1.12 on.
  auto collect = [](hid_t, const char* name, const auto*, void* out) -> herr_t {
    static_cast<std::vector<std::string>*>(out)->emplace_back(name);
    return 0;
  };
  check_status(H5Literate(group, index, H5_ITER_INC, nullptr, collect, &names), group, "cannot list members");
  return names;
}

static Handle write_array(hid_t parent, const std::string& name, const std::vector<int64_t>& shape, hid_t file_type,
                          hid_t mem_type, const void* values) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  hsize_t count = 1;
  for (hsize_t d : dims) count *= d;
  Handle space = dims.empty() ? scalar_space()
                              : Handle(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  check_id(space.get(), parent, "bad shape for dataset '" + name + "'");
  // Default creation properties: contiguous, unfiltered, so the bytes on disk are the
  // bytes the checksum covers and any reader (h5py, h5dump) sees plain arrays.
  Handle ds(
      check_id(H5Dcreate2(parent, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               parent, "cannot create dataset '" + name + "'"),
      H5Dclose);
  if (count > 0)
    check_status(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), ds.get(),
                 "cannot write dataset");
  return ds;
}

Handle write_floats(hid_t parent, const std::string& name, const std::vector<int64_t>& shape, const float* values) {
  return write_array(parent, name, shape, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, values);
}

Handle write_ints(hid_t parent, const std::string& name, const std::vector<int64_t>& shape, const int32_t* values) {
  return write_array(parent, name, shape, H5T_STD_I32LE, H5T_NATIVE_INT32, values);
}

Handle write_ints(hid_t parent, const std::string& name, const std::vector<int64_t>& shape, const int64_t* values) {
  return write_array(parent, name, shape, H5T_STD_I64LE, H5T_NATIVE_INT64, values);
}

static Handle create_array(hid_t parent, const std::string& name, const std::vector<int64_t>& shape, hid_t file_type) {
  ELBO_CHECK(!shape.empty(), where(parent) << ": dataset '" << name << "' written by rows needs a shape");
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  check_id(space.get(), parent, "bad shape for dataset '" + name + "'");
  return Handle(check_id(H5Dcreate2(parent, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                                    H5P_DEFAULT),
                         parent, "cannot create dataset '" + name + "'"),
                H5Dclose);
}

Handle create_floats(hid_t parent, const std::string& name, const std::vector<int64_t>& shape) {
  return create_array(parent, name, shape, H5T_IEEE_F32LE);
}
Handle create_ints64(hid_t parent, const std::string& name, const std::vector<int64_t>& shape) {
  return create_array(parent, name, shape, H5T_STD_I64LE);
}
Handle create_ints32(hid_t parent, const std::string& name, const std::vector<int64_t>& shape) {
  return create_array(parent, name, shape, H5T_STD_I32LE);
}

static void write_row_block(hid_t ds, int64_t first, int64_t rows, hid_t mem_type, const void* values) {
  Handle space(check_id(H5Dget_space(ds), ds, "cannot read the dataspace"), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  check_status(rank, ds, "cannot read the shape");
  hsize_t dims[H5S_MAX_RANK] = {}, start[H5S_MAX_RANK] = {}, count[H5S_MAX_RANK] = {};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  ELBO_CHECK(rank >= 1 && first >= 0 && rows >= 0 && hsize_t(first + rows) <= dims[0],
             where(ds) << ": rows " << first << " to " << first + rows << " lie outside the dataset");
  if (rows == 0) return;
  std::copy(dims, dims + rank, count);
  start[0] = hsize_t(first);
  count[0] = hsize_t(rows);
  check_status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr), ds,
               "cannot select rows");
  Handle mem(H5Screate_simple(rank, count, nullptr), H5Sclose);
  check_id(mem.get(), ds, "bad row block");
  check_status(H5Dwrite(ds, mem_type, mem.get(), space.get(), H5P_DEFAULT, values), ds, "cannot write rows");
}

void write_rows(hid_t ds, int64_t first, int64_t rows, const float* values) {
  write_row_block(ds, first, rows, H5T_NATIVE_FLOAT, values);
}
void write_rows(hid_t ds, int64_t first, int64_t rows, const int64_t* values) {
  write_row_block(ds, first, rows, H5T_NATIVE_INT64, values);
}
void write_rows(hid_t ds, int64_t first, int64_t rows, const int32_t* values) {
  write_row_block(ds, first, rows, H5T_NATIVE_INT32, values);
}

Handle open_dataset(hid_t parent, const std::string& name) {
  ELBO_CHECK(has_link(parent, name), where(parent) << ": missing dataset '" << name << "'");
  return Handle(check_id(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), parent, "'" + name + "' is not a dataset"),
                H5Dclose);
}

FloatArray read_floats(hid_t ds) {
  Handle type(check_id(H5Dget_type(ds), ds, "cannot read the datatype"), H5Tclose);
  ELBO_CHECK(H5Tget_class(type.get()) == H5T_FLOAT && H5Tget_size(type.get()) == 4, where(ds)
                                                                                        << ": expected float32 values");
  Handle space(check_id(H5Dget_space(ds), ds, "cannot read the dataspace"), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  check_status(rank, ds, "cannot read the shape");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  FloatArray out;
  hsize_t count = 1;
  for (hsize_t d : dims) {
    out.shape.push_back(static_cast<int64_t>(d));
    count *= d;
  }
  // A damaged header can claim any shape: compare with the bytes actually stored before
  // allocating for it.
  hsize_t stored = H5Dget_storage_size(ds);
  ELBO_CHECK(stored == count * 4, where(ds)
                                      << ": shape needs " << count * 4 << " bytes but " << stored << " are stored");
  out.values.resize(count);
  if (count > 0)
    check_status(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.values.data()), ds,
                 "cannot read the values");
  return out;
}

bool has_attr(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

void write_attr(hid_t obj, const std::string& name, int32_t v) {
  write_scalar(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &v);
}
void write_attr(hid_t obj, const std::string& name, int64_t v) {
  write_scalar(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}
void write_attr(hid_t obj, const std::string& name, uint32_t v) {
  write_scalar(obj, name, H5T_STD_U32LE, H5T_NATIVE_UINT32, &v);
}
void write_attr(hid_t obj, const std::string& name, uint64_t v) {
  write_scalar(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

void write_attr(hid_t obj, const std::string& name, const std::string& value) {
  // Variable-length UTF-8: h5py returns it as str, and there is no 64 KiB header limit.
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  const char* p = value.c_str();
  write_scalar(obj, name, type.get(), type.get(), &p);
}

template <>
int32_t read_attr<int32_t>(hid_t obj, const std::string& name) {
  return read_int_attr<int32_t>(obj, name, H5T_NATIVE_INT32);
}
template <>
int64_t read_attr<int64_t>(hid_t obj, const std::string& name) {
  return read_int_attr<int64_t>(obj, name, H5T_NATIVE_INT64);
}
template <>
uint32_t read_attr<uint32_t>(hid_t obj, const std::string& name) {
  return read_int_attr<uint32_t>(obj, name, H5T_NATIVE_UINT32);
}
template <>
uint64_t read_attr<uint64_t>(hid_t obj, const std::string& name) {
  return read_int_attr<uint64_t>(obj, name, H5T_NATIVE_UINT64);
}

template <>
std::string read_attr<std::string>(hid_t obj, const std::string& name) {
  Handle attr = open_scalar_attr(obj, name);
  Handle file_type(H5Aget_type(attr.get()), H5Tclose);
  ELBO_CHECK(H5Tget_class(file_type.get()) == H5T_STRING, where(obj)
                                                              << ": attribute '" << name << "': expected a string");
  // Reading with the stored type itself keeps its size, padding and character set.
  if (H5Tis_variable_str(file_type.get()) > 0) {
    char* p = nullptr;
    check_status(H5Aread(attr.get(), file_type.get(), &p), obj, "cannot read attribute '" + name + "'");
    std::string value = p ? p : "";
    H5free_memory(p);
    return value;
  }
  std::string value(H5Tget_size(file_type.get()), '\0');
  check_status(H5Aread(attr.get(), file_type.get(), value.data()), obj, "cannot read attribute '" + name + "'");
  value.resize(std::min(value.size(), value.find('\0')));  // fixed-length strings are NUL-padded
  return value;
}

}  // namespace elbo::h5
