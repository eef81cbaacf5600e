// elbo version / elbo --version: what this binary is — version, git commit, build type
// (build_info.h, captured by CMake) — and what it can run on (its backends).
#include <mpi.h>

#include <cstdio>
#include <string>

#include "build_info.h"
#include "commands.h"
#include "elbo/backend.h"
#include "help.h"

namespace elbo::cli {
namespace {

const char* kHelp =
    "usage: elbo version\n"
    "\n"
    "Prints the version, the git commit the binary was built from (with -dirty when the\n"
    "tree had uncommitted changes), the build type, and the backends compiled in: the CPU\n"
    "backend's compute library, CUDA (or not), and the collective libraries (MPI, NCCL).\n"
    "`elbo devices` shows what this machine offers to them.\n"
    "\n"
    "  -h, --help   this help\n"
    "  elbo --version, elbo -V: the same as elbo version\n"
    "\n"
    "example:\n"
    "  elbo --version\n";

// The MPI library's own name and version, first line only ("Open MPI v4.1.4").
std::string mpi_library() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  MPI_Get_library_version(text, &len);  // allowed before MPI_Init
  std::string s(text, size_t(len));
  const size_t cut = s.find_first_of(",\n");
  return cut == std::string::npos ? s : s.substr(0, cut);
}

}  // namespace

int cmd_version(int argc, char** argv) {
  if (wants_help(argc, argv)) return print_help(kHelp);
  if (argc > 1) return usage_error("version", std::string("unexpected argument '") + argv[1] + "'");
  const BuildInfo& b = build_info();
  std::printf("elbo %s (git %s, %s build)\n", b.version, b.commit, b.build_type);
  std::printf("backends     cpu (%s); cuda %s\n", cpu_compute_library_info().c_str(),
              cuda_backend_compiled() ? "compiled in" : "not compiled in");
  std::printf("collectives  mpi (%s)%s\n", mpi_library().c_str(), cuda_backend_compiled() ? ", nccl" : "");
  return 0;
}

}  // namespace elbo::cli
