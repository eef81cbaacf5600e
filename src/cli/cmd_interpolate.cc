// elbo interpolate: a PNG of latent interpolations between pairs of images of a shard
// set (sample_grids.h), from a checkpoint. Rank 0 does the work.
#include <cinttypes>
#include <cstdio>
#include <sstream>
#include <utility>
#include <vector>

#include "commands.h"
#include "elbo/error.h"
#include "elbo/kernels/philox.h"
#include "elbo/train/sample_grids.h"
#include "help.h"
#include "model_tools.h"
#include "run_args.h"

namespace elbo::cli {
namespace {

const char* kHelp =
    "usage: elbo interpolate [CONFIG] [--checkpoint FILE] [--data MANIFEST] --out PNG [--pairs N] [--steps S]\n"
    "                        [--index A,B]... [--seed N] [--spherical] [--set section.key=value]... [--verbose]\n"
    "\n"
    "Latent interpolation between pairs of images: both are encoded (posterior mean), S\n"
    "points from the first code to the second (t = 0 .. 1, linearly or with --spherical\n"
    "along the great circle) are decoded (mean of p(x|z)), and each pair becomes one row of\n"
    "the PNG: the first image, the S decoded points, the second image. The ends of the\n"
    "decoded points are the two images' reconstructions, as `elbo reconstruct` shows them.\n"
    "Conditional models (model.conditional) take each image's class from the labels and\n"
    "mix the two classes' one-hot vectors along the way like the codes.\n"
    "\n"
    "  CONFIG             the run's YAML config; may be left out with --checkpoint, whose\n"
    "                     stored config is used then\n"
    "  --checkpoint FILE  the checkpoint (default: the newest valid one of run.dir)\n"
    "  --data MANIFEST    the shard set of the images (default: data.test, or data.train\n"
    "                     without one); its images must have the training images' shape\n"
    "  --out PNG          where to write (a folder: interpolate_step<S>.png inside it)\n"
    "  --pairs N          pairs of distinct images drawn at random (default 8)\n"
    "  --steps S          decoded points per pair, both ends included (default 10, >= 2)\n"
    "  --index A,B        a pair by image index (0-based; repeatable, or A,B,C,D,... for\n"
    "                     several); instead of random pairs\n"
    "  --seed N           the seed that draws the random pairs (default: run.seed)\n"
    "  --spherical        spherical interpolation (slerp) instead of linear\n"
    "  --set KEY=VALUE    override a config key (repeatable), e.g. train.device=cpu\n"
    "  --verbose          print the effective configuration first\n"
    "  -h, --help         this help\n"
    "\n"
    "example:\n"
    "  elbo interpolate --checkpoint runs/fashion_mlp/checkpoints/ckpt_000004687.h5 \\\n"
    "      --data data/fashion/test/manifest.yaml --pairs 6 --steps 12 --spherical --out interp.png\n";

// The pairs of --index values "A,B[,C,D...]" (checked against count later).
bool parse_pairs(const std::vector<std::string>& values, std::vector<std::pair<int64_t, int64_t>>& pairs,
                 std::string& problem) {
  for (const std::string& value : values) {
    std::vector<int64_t> ids;
    std::stringstream in(value);
    std::string item;
    while (std::getline(in, item, ',')) {
      int64_t id = 0;
      if (!parse_count(item, 0, INT64_MAX, &id)) {
        problem = "--index " + value + ": expected image indices A,B (whole numbers >= 0)";
        return false;
      }
      ids.push_back(id);
    }
    if (ids.empty() || ids.size() % 2 != 0) {
      problem = "--index " + value + ": expected pairs of image indices, A,B or A,B,C,D,...";
      return false;
    }
    for (size_t i = 0; i < ids.size(); i += 2) pairs.emplace_back(ids[i], ids[i + 1]);
  }
  return true;
}

}  // namespace

int cmd_interpolate(int argc, char** argv) {
  const RunCommand command{"interpolate", kHelp, {"checkpoint", "data", "out", "pairs", "steps", "index", "seed"},
                           {"spherical", "verbose"}, true};
  RunArgs args;
  if (const int rc = parse_run_args(argc, argv, command, args); rc >= 0) return rc;
  const std::string out = args.option("out");
  if (const std::string problem = out_problem(out, {".png"}); !problem.empty()) return usage_error(command.name, problem);
  int64_t pairs_wanted = 8, steps = 10, seed = -1;
  if (!args.option("pairs").empty() && !parse_count(args.option("pairs"), 1, 10000, &pairs_wanted))
    return usage_error(command.name, "--pairs " + args.option("pairs") + ": expected a whole number from 1 to 10000");
  if (!args.option("steps").empty() && !parse_count(args.option("steps"), 2, 1000, &steps))
    return usage_error(command.name, "--steps " + args.option("steps") + ": expected a whole number from 2 to 1000");
  if (!args.option("seed").empty() && !parse_count(args.option("seed"), 0, INT64_MAX, &seed))
    return usage_error(command.name, "--seed " + args.option("seed") + ": expected a whole number >= 0");
  std::vector<std::pair<int64_t, int64_t>> pairs;
  std::string problem;
  if (!parse_pairs(args.values("index"), pairs, problem)) return usage_error(command.name, problem);
  if (!pairs.empty() && !args.option("pairs").empty())
    return usage_error(command.name, "--pairs and --index: give one of them (--index names the pairs itself)");

  return run_on_ranks(argc, argv, [&](MpiContext& mpi) {
    const Config config = load_run_config(mpi, args);
    ModelOnData m = open_model_on_data(config, mpi, args);
    if (!mpi.is_root()) return 0;
    const int64_t n = m.data.count;
    for (const auto& [a, b] : pairs)
      ELBO_CHECK(a < n && b < n, "--index " << a << "," << b << ": " << m.data_key << " " << m.data.manifest_path
                                            << " holds images 0.." << n - 1);
    if (pairs.empty()) {
      ELBO_CHECK(n >= 2, m.data_key << " " << m.data.manifest_path << " holds " << n
                                    << " image: interpolation needs two");
      const uint64_t s = seed >= 0 ? uint64_t(seed) : config.run.seed;
      // Another part of the sample stream than the prior samples of `elbo sample`.
      for (int64_t p = 0; p < pairs_wanted; ++p) {
        const Philox4 r = philox_draw(s, kRngSample, uint64_t(p), 1u << 30);
        const int64_t a = int64_t(r.x[0] % uint64_t(n));
        pairs.emplace_back(a, (a + 1 + int64_t(r.x[1] % uint64_t(n - 1))) % n);
      }
    }
    const std::string path = out_path(out, command.name, m.checkpoint.step, ".png");
    write_interpolations_png(path, pairs, int(steps), args.has("spherical"), m.data, config.data.scale,
                             *m.replica.backend, *m.replica.model);
    std::string list;
    for (const auto& [a, b] : pairs) list += (list.empty() ? "" : " ") + std::to_string(a) + "," + std::to_string(b);
    std::printf("elbo interpolate: wrote %s (checkpoint %s, step %" PRId64 "; pairs %s)\n", path.c_str(),
                m.checkpoint.path.c_str(), m.checkpoint.step, list.c_str());
    return 0;
  });
}

}  // namespace elbo::cli
