// `elbo data convert|inspect`: make a shard set from IDX / npy files, and look at one.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "elbo/data/shard_set.h"
#include "elbo/error.h"
#include "elbo/io/progress.h"
#include "help.h"
#include "paths.h"

namespace elbo::cli {
namespace {

const char* kConvertHelp =
    "usage: elbo data convert --images FILE[,FILE...] [--labels FILE[,FILE...]] --out DIR\n"
    "                         [--shards N] [--chunk N] [--overwrite]\n"
    "\n"
    "Converts IDX (MNIST-style, .gz or plain) or .npy image files (several are concatenated)\n"
    "to a shard set: DIR/manifest.yaml and N HDF5 files DIR/shard_*.h5. DIR is created.\n"
    "A progress line appears every few seconds for large inputs.\n"
    "\n"
    "  --images FILE,...  image files (uint8 or float32; N x H x W, or N x C x H x W for .npy)\n"
    "  --labels FILE,...  label files with one label per image (optional)\n"
    "  --out DIR          the shard set's folder\n"
    "  --shards N         number of HDF5 shard files (default 4)\n"
    "  --chunk N          samples per HDF5 chunk (default 64)\n"
    "  --overwrite        replace an existing shard set in DIR\n"
    "  -h, --help         this help\n"
    "\n"
    "example:\n"
    "  elbo data convert --images train-images-idx3-ubyte.gz --labels train-labels-idx1-ubyte.gz \\\n"
    "      --out data/fashion/train --shards 4\n";

const char* kInspectHelp =
    "usage: elbo data inspect MANIFEST [--verify]\n"
    "\n"
    "Prints a shard set's summary: sample count, image shape and type, labels, shards.\n"
    "\n"
    "  MANIFEST   the set's manifest.yaml (made by elbo data convert)\n"
    "  --verify   also read every shard and check its CRC32 against the manifest\n"
    "  -h, --help this help\n"
    "\n"
    "example:\n"
    "  elbo data inspect data/fashion/train/manifest.yaml --verify\n";

const char* kDataHelp =
    "usage: elbo data <convert|inspect> [args]   (elbo data <convert|inspect> --help: their flags)\n"
    "\n"
    "  convert    image files (IDX, .npy) -> HDF5 shards + manifest.yaml (elbo data convert --help)\n"
    "  inspect    summary of a shard set, optionally verifying checksums (elbo data inspect --help)\n"
    "  -h, --help this help\n"
    "\n"
    "example:\n"
    "  elbo data convert --images t10k-images-idx3-ubyte.gz --out data/fashion/test --shards 1\n";

int usage(const std::string& sub, const std::string& problem) {
  return usage_error(sub.empty() ? "data" : "data " + sub, problem);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

bool parse_int(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0') return false;
  *out = v;
  return true;
}

// --key VALUE or --key=VALUE; advances i past what it consumed.
bool option_value(int argc, char** argv, int* i, const std::string& key, std::string* value) {
  const std::string arg = argv[*i];
  if (arg == key) {
    if (*i + 1 >= argc) return false;
    *value = argv[++*i];
    return true;
  }
  if (arg.rfind(key + "=", 0) == 0) {
    *value = arg.substr(key.size() + 1);
    return true;
  }
  return false;
}

int convert(int argc, char** argv) {
  ConvertOptions options;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string value;
    int64_t n = 0;
    if (arg == "--overwrite") {
      options.overwrite = true;
    } else if (option_value(argc, argv, &i, "--images", &value)) {
      for (const auto& f : split_list(value)) options.image_files.push_back(f);
    } else if (option_value(argc, argv, &i, "--labels", &value)) {
      for (const auto& f : split_list(value)) options.label_files.push_back(f);
    } else if (option_value(argc, argv, &i, "--out", &value)) {
      options.out_dir = value;
    } else if (option_value(argc, argv, &i, "--shards", &value)) {
      if (!parse_int(value, &n) || n < 1 || n > 100000) return usage("convert", "--shards expects an integer >= 1, got '" + value + "'");
      options.shards = static_cast<int>(n);
    } else if (option_value(argc, argv, &i, "--chunk", &value)) {
      if (!parse_int(value, &n) || n < 1) return usage("convert", "--chunk expects an integer >= 1, got '" + value + "'");
      options.chunk_samples = n;
    } else {
      return usage("convert", "unknown or incomplete argument '" + arg + "'");
    }
  }
  if (options.image_files.empty()) return usage("convert", "--images is required");
  if (options.out_dir.empty()) return usage("convert", "--out is required");
  for (const std::string& f : options.image_files) require_input_file("--images", f, Expected::kFile);
  for (const std::string& f : options.label_files) require_input_file("--labels", f, Expected::kFile);
  std::optional<ProgressMeter> progress;  // the total is known once the inputs are open
  options.on_progress = [&progress](int64_t done, int64_t total) {
    if (!progress) progress.emplace("convert", "images", total, true);
    progress->update(done);
  };
  const ShardSetInfo info = convert_to_shards(options);
  std::cout << "wrote " << info.manifest_path << "\n" << describe_shard_set(info);
  return 0;
}

int inspect(int argc, char** argv) {
  std::string manifest;
  bool verify = false;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--verify") {
      verify = true;
    } else if (!arg.empty() && arg[0] != '-' && manifest.empty()) {
      manifest = arg;
    } else {
      return usage("inspect", "unexpected argument '" + arg + "'");
    }
  }
  if (manifest.empty()) return usage("inspect", "MANIFEST is required");
  require_input_file("MANIFEST", manifest, Expected::kManifest);
  const ShardSetInfo info = open_shard_set(manifest, verify);
  std::cout << describe_shard_set(info);
  if (verify)
    std::cout << "checksums   " << (info.shards.size() == 1 ? std::string("1 shard") : "all " + std::to_string(info.shards.size()) + " shards")
              << " verified\n";
  return 0;
}

}  // namespace

int cmd_data(int argc, char** argv) {
  if (argc < 2) return usage("", "convert or inspect expected");
  const std::string sub = argv[1];
  if (sub == "-h" || sub == "--help" || sub == "help") return print_help(kDataHelp);
  if (sub == "convert" && wants_help(argc - 1, argv + 1)) return print_help(kConvertHelp);
  if (sub == "inspect" && wants_help(argc - 1, argv + 1)) return print_help(kInspectHelp);
  try {
    if (sub == "convert") return convert(argc, argv);
    if (sub == "inspect") return inspect(argc, argv);
  } catch (const Error& e) {
    std::cerr << "elbo data: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {  // e.g. out of memory: still one line, still exit 1
    std::cerr << "elbo data: error: " << e.what() << "\n";
    return 1;
  }
  return usage("", "unknown subcommand '" + sub + "' (convert or inspect)");
}

}  // namespace elbo::cli
