// For messages about a path the user gave: a relative one is resolved against the
// current directory, which is often not the one the user has in mind (a job script's,
// another terminal's), so messages name it.
#pragma once
#include <string>

namespace elbo {

// " (relative to the current directory /abs/dir)" for a relative path, "" otherwise.
std::string relative_note(const std::string& path);

}  // namespace elbo
