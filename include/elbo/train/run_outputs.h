// Where the commands that read a checkpoint (eval, sample, reconstruct) put what they
// write, so that results of different checkpoints never overwrite each other:
//   a checkpoint in <run>/checkpoints/  ->  <run>/<prefix>_step<9 digits><suffix>
//   a checkpoint anywhere else          ->  next to it, same name
// and the atomic, folder-creating write they share.
#pragma once
#include <cstdint>
#include <string>

namespace elbo {

// The folder results of `checkpoint` go to by default: its run folder when it sits in
// a `checkpoints` folder, else its own folder.
std::string checkpoint_output_dir(const std::string& checkpoint);

// "<prefix>_step000004687<suffix>", e.g. ("eval", 4687, ".json").
std::string step_file_name(const std::string& prefix, int64_t step, const std::string& suffix);

// An --out value: empty -> default_path; an existing folder (or one ending in '/') ->
// that folder / file_name; else the value itself.
std::string resolve_output(const std::string& out, const std::string& file_name, const std::string& default_path);

// True when both name the same folder (both may be relative, or not exist yet).
bool same_folder(const std::string& a, const std::string& b);

// Creates the folders above `path`, writes text to path.tmp and renames it over path.
void write_file_atomically(const std::string& path, const std::string& text);

// Creates the folders above `path`; an Error names the folder on failure.
void create_parent_folders(const std::string& path);

}  // namespace elbo
