#include "hdf5_output.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "elbo/error.h"
#include "elbo/train/run_outputs.h"

namespace elbo::cli {

Hdf5Output::Hdf5Output(const std::string& path) : path_(path), tmp_(path + ".tmp") {
  create_parent_folders(path_);
  h5::Session session;
  file_ = h5::create_file(tmp_);
}

Hdf5Output::~Hdf5Output() {
  if (committed_) return;
  {
    h5::Session session;
    file_ = h5::Handle();  // closes it (errors ignored: the file is being thrown away)
  }
  std::remove(tmp_.c_str());
}

void Hdf5Output::write(const std::function<void(hid_t file)>& fill) {
  h5::Session session;
  fill(file_.get());
}

void Hdf5Output::commit() {
  {
    h5::Session session;
    file_.close();
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ELBO_FAIL("cannot rename " << tmp_ << " to " << path_ << ": " << std::strerror(err));
  }
  committed_ = true;
}

}  // namespace elbo::cli
