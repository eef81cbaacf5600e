// Input paths the user typed, checked before anything reads them, so that a mistake
// gets a message naming the path, what was expected there and, for a relative path,
// the directory it was resolved against.
#pragma once
#include <string>

namespace elbo::cli {

// What a path should name; for a folder given instead, the message suggests the file meant.
enum class Expected {
  kFile,        // no suggestion
  kManifest,    // the folder's manifest.yaml
  kCheckpoint,  // the newest checkpoint of a run folder or of its checkpoints folder
  kConfig,      // the folder's YAML files
};

// Throws elbo::Error when `path` does not exist or is a folder. `what` says how the user
// gave it ("data.train", "--checkpoint", "CONFIG"); a folder's message names both.
void require_input_file(const std::string& what, const std::string& path, Expected expected);

}  // namespace elbo::cli
