// An HDF5 output file of the per-image tools that appears whole or not at all, written a
// piece at a time while the work goes on (elbo encode's latents can be far larger than
// one rank's memory): the pieces go into PATH.tmp, commit() renames it over PATH. Left
// without commit() (an error, Ctrl-C, a job's SIGTERM) it removes PATH.tmp, and PATH is
// as it was.
#pragma once
#include <hdf5.h>

#include <functional>
#include <string>

#include "elbo/io/hdf5_util.h"

namespace elbo::cli {

class Hdf5Output {
 public:
  explicit Hdf5Output(const std::string& path);  // creates the parent folders and PATH.tmp
  ~Hdf5Output();
  Hdf5Output(const Hdf5Output&) = delete;
  Hdf5Output& operator=(const Hdf5Output&) = delete;

  // Runs fill(file) holding the process-wide HDF5 lock for that call alone, so that
  // shards can be read (which takes the lock too) between two calls. Handles that fill
  // opens must be closed before it returns.
  void write(const std::function<void(hid_t file)>& fill);
  // Closes the file (flushing it) and renames it over PATH.
  void commit();

 private:
  std::string path_, tmp_;
  h5::Handle file_;
  bool committed_ = false;
};

}  // namespace elbo::cli
