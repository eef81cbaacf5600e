// What this binary is: version, git commit and build type, captured by CMake when the
// binary is built (cmake/elbo_build_info.cmake writes the definition).
#pragma once

namespace elbo::cli {

struct BuildInfo {
  const char* version;     // "0.1.0"
  const char* commit;      // `git describe --always --dirty`, or "unknown" outside a git checkout
  const char* build_type;  // "Release", "Debug", ...
  const char* source_dir;  // the tree it was built from (its configs/ are the examples)
};

const BuildInfo& build_info();

}  // namespace elbo::cli
