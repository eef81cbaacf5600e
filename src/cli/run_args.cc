#include "run_args.h"

#include <algorithm>
#include <cstdio>

#include "elbo/error.h"
#include "elbo/train/checkpoint.h"
#include "help.h"
#include "paths.h"

namespace elbo::cli {

int parse_run_args(int argc, char** argv, const RunCommand& command, RunArgs& out) {
  if (wants_help(argc, argv)) return print_help(command.help);
  auto listed = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      const size_t eq = a.find('=');
      const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (listed(command.switches, name) && eq == std::string::npos) {
        out.switches.insert(name);
        continue;
      }
      if (name != "set" && !listed(command.options, name)) return usage_error(command.name, "unknown option '" + a + "'");
      std::string value;
      if (eq != std::string::npos) value = a.substr(eq + 1);
      else if (i + 1 < argc) value = argv[++i];
      else return usage_error(command.name, "--" + name + " needs a value");
      if (name == "set") out.overrides.push_back(value);
      else {
        out.options[name] = value;
        out.repeated[name].push_back(value);
      }
      continue;
    }
    if (!out.config_path.empty())
      return usage_error(command.name, "unexpected argument '" + a + "' (CONFIG is already " + out.config_path + ")");
    out.config_path = a;
  }
  if (!out.config_path.empty()) return -1;
  if (command.config_from_checkpoint && out.options.count("checkpoint")) return -1;
  std::string problem = command.config_from_checkpoint ? "missing CONFIG (a YAML file) or --checkpoint FILE"
                                                       : "missing CONFIG (a YAML file)";
  const std::string examples = example_configs();
  problem += examples.empty() ? "" : "\nexample configs: " + examples;
  problem += "\na commented template with every key: elbo config template > my_config.yaml";
  return usage_error(command.name, problem);
}

Config load_run_config(MpiContext& mpi, const RunArgs& args) {
  Config config;
  if (!args.config_path.empty()) {
    mpi.check_on_all_ranks([&] {
      require_input_file("CONFIG", args.config_path, Expected::kConfig);
      config = load_config(args.config_path, args.overrides);
    });
  } else {
    // The checkpoint's own effective config: the run as it was trained.
    const std::string checkpoint = args.option("checkpoint");
    std::string yaml;
    mpi.check_on_all_ranks([&] {
      if (!mpi.is_root()) return;
      require_input_file("--checkpoint", checkpoint, Expected::kCheckpoint);
      yaml = load_checkpoint(checkpoint).config_yaml;
      ELBO_CHECK(!yaml.empty(), checkpoint << " stores no configuration (an older elbo wrote it): give CONFIG too");
    });
    mpi.broadcast(yaml);
    mpi.check_on_all_ranks([&] { config = parse_config(yaml, "the config stored in " + checkpoint, args.overrides); });
  }
  if (args.has("verbose") && mpi.is_root()) {
    std::printf("elbo: effective configuration\n%s", config_to_yaml(config).c_str());
    std::fflush(stdout);
  }
  return config;
}

}  // namespace elbo::cli
