// elbo config template [MODEL]: a commented config with every key (config_template.h).
// elbo config check CONFIG: load and validate one, as train would, without running.
#include <cstdio>
#include <string>

#include "commands.h"
#include "elbo/config.h"
#include "elbo/config_template.h"
#include "elbo/error.h"
#include "elbo/io/path_note.h"
#include "help.h"
#include "paths.h"
#include "run_args.h"

#include <filesystem>

namespace elbo::cli {
namespace {

const char* kTemplateHelp =
    "usage: elbo config template [MODEL]\n"
    "\n"
    "Prints a configuration with every key, its default value and a one-line comment\n"
    "(docs/config.md has the long form). Save it, set data.train, and train with it.\n"
    "\n"
    "  MODEL       a model.type to write (default: mlp_vae)\n"
    "  -h, --help  this help\n"
    "\n"
    "example:\n"
    "  elbo config template > my_run.yaml\n";

const char* kCheckHelp =
    "usage: elbo config check CONFIG [--set section.key=value]... [--verbose]\n"
    "\n"
    "Loads and validates CONFIG with the overrides exactly as `elbo train` would (unknown\n"
    "keys, types, ranges), and says whether the data files it names exist. Runs nothing.\n"
    "\n"
    "  CONFIG           the YAML config\n"
    "  --set KEY=VALUE  override a config key (repeatable)\n"
    "  --verbose        print the effective configuration (every key, defaults included)\n"
    "  -h, --help       this help\n"
    "\n"
    "example:\n"
    "  elbo config check configs/fashion_mlp.yaml --set train.lr=3e-4\n";

const char* kConfigHelp =
    "usage: elbo config <template|check> [args]   (elbo config <template|check> --help: their flags)\n"
    "\n"
    "  template    print a commented config with every key and its default\n"
    "  check       validate a config as elbo train would, without running\n"
    "  -h, --help  this help\n"
    "\n"
    "example:\n"
    "  elbo config template > my_run.yaml && elbo config check my_run.yaml\n";

int print_template(int argc, char** argv) {
  if (wants_help(argc, argv)) return print_help(kTemplateHelp);
  if (argc > 2) return usage_error("config template", std::string("unexpected argument '") + argv[2] + "'");
  std::string text;
  try {
    text = config_template(argc == 2 ? argv[1] : "");
  } catch (const Error& e) {
    return usage_error("config template", e.what());  // an unknown MODEL is a mistyped argument
  }
  std::fputs(text.c_str(), stdout);
  return 0;
}

int check(int argc, char** argv) {
  RunArgs args;
  if (const int rc = parse_run_args(argc, argv, {"config check", kCheckHelp, {}, {"verbose"}, false}, args); rc >= 0)
    return rc;
  require_input_file("CONFIG", args.config_path, Expected::kConfig);
  const Config config = load_config(args.config_path, args.overrides);
  if (args.has("verbose")) std::fputs(config_to_yaml(config).c_str(), stdout);
  std::printf("%s: valid\n", args.config_path.c_str());
  for (const auto& [key, path] : {std::pair{"data.train", config.data.train}, std::pair{"data.test", config.data.test}}) {
    if (path.empty()) continue;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      std::printf("note: %s: %s is not a file yet%s\n", key, path.c_str(), relative_note(path).c_str());
  }
  return 0;
}

}  // namespace

int cmd_config(int argc, char** argv) {
  if (argc < 2) return usage_error("config", "template or check expected");
  const std::string sub = argv[1];
  if (sub == "-h" || sub == "--help" || sub == "help") return print_help(kConfigHelp);
  try {
    if (sub == "template") return print_template(argc - 1, argv + 1);
    if (sub == "check") return check(argc - 1, argv + 1);
  } catch (const Error& e) {
    std::fprintf(stderr, "elbo config %s: error: %s\n", sub.c_str(), e.what());
    return 1;
  }
  return usage_error("config", "unknown subcommand '" + sub + "' (template or check)");
}

}  // namespace elbo::cli
