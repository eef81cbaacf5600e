// What every command shares for its help: -h/--help anywhere prints the command's help
// (usage, every flag, an example) on stdout and exits 0; a usage mistake prints one
// line and points at --help, exit 2.
#pragma once
#include <string>

namespace elbo::cli {

// True when some argument after the command name is -h or --help.
bool wants_help(int argc, char** argv);
// Prints text on stdout; returns 0.
int print_help(const char* text);
// "elbo <command>: <problem>" and "see `elbo <command> --help`" on stderr; returns 2.
int usage_error(const std::string& command, const std::string& problem);
// Where the example configs are, e.g. "/usr/local/share/elbo/configs (fashion_mlp.yaml,
// mnist_mlp.yaml)"; "" when none is found (installed share/elbo, the source tree, ./configs).
std::string example_configs();

}  // namespace elbo::cli
