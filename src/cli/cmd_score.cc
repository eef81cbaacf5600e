// elbo encode / elbo score: one value (or vector) per image of a shard set, from a
// checkpoint, computed as `elbo eval` computes its averages (image_scores.h).
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "commands.h"
#include "elbo/error.h"
#include "elbo/io/hdf5_util.h"
#include "elbo/train/run_outputs.h"
#include "help.h"
#include "model_tools.h"
#include "run_args.h"

namespace elbo::cli {
namespace {

const char* kEncodeHelp =
    "usage: elbo encode [CONFIG] [--checkpoint FILE] [--data MANIFEST] --out FILE.h5 [--batch N]\n"
    "                   [--set section.key=value]... [--verbose]\n"
    "\n"
    "Encodes every image of a shard set: the mean and log-variance of its posterior\n"
    "q(z|x), written as HDF5 (readable with h5py):\n"
    "  /mu, /logvar   float32, images x latent (the top latent, model.latent values)\n"
    "  /index         int64, each row's image index in the shard set\n"
    "  /labels        int32, each image's label (only when the shards have labels)\n"
    "  hierarchical models (model.type hvae) also, for each group l, top first:\n"
    "  /group_<l>_mu  float32, images x the group's size: its posterior mean given the\n"
    "                 means of the groups above (as elbo eval's per-group active units)\n"
    "  /group_kl      float32, images x groups: each group's KL (they add up to the KL)\n"
    "and attributes checkpoint, step, data, model. The images are seen as `elbo eval` sees\n"
    "them (data.binarize applied the same fixed way); conditional models (model.conditional)\n"
    "read each image's class from the labels. Runs on any number of ranks (each takes a\n"
    "slice); rank 0 prints a progress line with an ETA when it takes long, and writes the\n"
    "file whole at the end (nothing is written on an error).\n"
    "\n"
    "  CONFIG             the run's YAML config; may be left out with --checkpoint, whose\n"
    "                     stored config is used then\n"
    "  --checkpoint FILE  the checkpoint (default: the newest valid one of run.dir)\n"
    "  --data MANIFEST    the shard set to encode (default: data.test, or data.train without\n"
    "                     one); its images must have the training images' shape\n"
    "  --out FILE.h5      where to write (.h5 or .hdf5; a folder: encode_step<S>.h5 inside it)\n"
    "  --batch N          images per forward pass (default: eval.batch)\n"
    "  --set KEY=VALUE    override a config key (repeatable), e.g. train.device=cpu\n"
    "  --verbose          print the effective configuration first\n"
    "  -h, --help         this help\n"
    "\n"
    "example:\n"
    "  elbo encode --checkpoint runs/fashion_mlp/checkpoints/ckpt_000004687.h5 \\\n"
    "      --data data/fashion/test/manifest.yaml --out fashion_test_latents.h5\n";

const char* kScoreHelp =
    "usage: elbo score [CONFIG] [--checkpoint FILE] [--data MANIFEST] --out FILE.csv|FILE.h5\n"
    "                  [--iw-samples K] [--batch N] [--set section.key=value]... [--verbose]\n"
    "\n"
    "Scores every image of a shard set, e.g. for anomaly detection (a high score: unlikely\n"
    "under the model), in nats:\n"
    "  nll    the importance-weighted NLL estimate -log (1/k) sum_t w_t, k = --iw-samples\n"
    "  nelbo  the single-sample negative ELBO, = recon + kl\n"
    "computed as `elbo eval` computes them (the same fixed binarization of each image, the\n"
    "same noise, keyed by run.seed and the image's index): the mean of nll over data.test\n"
    "is eval's IW NLL for the same k (eval.iw_samples) and seed. Conditional models read\n"
    "each image's class from the labels. Runs on any number of ranks (each takes a slice);\n"
    "rank 0 prints a progress line with an ETA when it takes long, and writes the file\n"
    "whole at the end (nothing is written on an error).\n"
    "\n"
    "  CONFIG             the run's YAML config; may be left out with --checkpoint, whose\n"
    "                     stored config is used then\n"
    "  --checkpoint FILE  the checkpoint (default: the newest valid one of run.dir)\n"
    "  --data MANIFEST    the shard set to score (default: data.test, or data.train without\n"
    "                     one); its images must have the training images' shape\n"
    "  --out FILE         FILE.csv: a header and one line per image, columns\n"
    "                       index,label,nll,nelbo,recon,kl (label only when the shards have labels)\n"
    "                     FILE.h5 (or .hdf5): float32 datasets /nll, /nelbo, /recon, /kl,\n"
    "                       int64 /index, int32 /labels (when the shards have labels)\n"
    "                     a folder: score_step<S>.csv inside it\n"
    "  --iw-samples K     importance samples per image (default 1000; eval.iw_chunk of them\n"
    "                     are decoded at once)\n"
    "  --batch N          images per forward pass (default: eval.batch)\n"
    "  --set KEY=VALUE    override a config key (repeatable): run.seed=S draws other noise,\n"
    "                     eval.iw_chunk=N\n"
    "  --verbose          print the effective configuration first\n"
    "  -h, --help         this help\n"
    "\n"
    "example:\n"
    "  mpirun -np 4 elbo score --checkpoint runs/fashion_mlp/checkpoints/ckpt_000004687.h5 \\\n"
    "      --data data/fashion/test/manifest.yaml --iw-samples 1000 --out scores.csv\n";

enum class Tool { kEncode, kScore };

int run_tool(int argc, char** argv, Tool tool) {
  const bool score = tool == Tool::kScore;
  const RunCommand command{score ? "score" : "encode", score ? kScoreHelp : kEncodeHelp,
                           score ? std::vector<std::string>{"checkpoint", "data", "out", "iw-samples", "batch"}
                                 : std::vector<std::string>{"checkpoint", "data", "out", "batch"},
                           {"verbose"}, true};
  RunArgs args;
  if (const int rc = parse_run_args(argc, argv, command, args); rc >= 0) return rc;
  const std::string out = args.option("out");
  const std::vector<std::string> endings =
      score ? std::vector<std::string>{".csv", ".h5", ".hdf5"} : std::vector<std::string>{".h5", ".hdf5"};
  if (const std::string problem = out_problem(out, endings); !problem.empty()) return usage_error(command.name, problem);
  int64_t k = 0, batch = 0;
  if (score && !args.option("iw-samples").empty() && !parse_count(args.option("iw-samples"), 1, 1000000, &k))
    return usage_error(command.name, "--iw-samples " + args.option("iw-samples") + ": expected a whole number from 1 to 1000000");
  if (score && k == 0) k = 1000;
  if (!args.option("batch").empty() && !parse_count(args.option("batch"), 1, 1 << 20, &batch))
    return usage_error(command.name, "--batch " + args.option("batch") + ": expected a whole number from 1 to 1048576");

  return run_on_ranks(argc, argv, [&](MpiContext& mpi) {
    const Config config = load_run_config(mpi, args);
    ModelOnData m = open_model_on_data(config, mpi, args);
    if (batch == 0) batch = std::max<int64_t>(1, config.eval.batch);
    const int latent = m.replica.model->latent_dim();
    const int64_t n = m.data.count;
    if (mpi.is_root()) {
      std::printf("elbo %s: %s (step %" PRId64 ") on %" PRId64 " images of %s", command.name.c_str(),
                  m.checkpoint.path.c_str(), m.checkpoint.step, n, m.data.manifest_path.c_str());
      if (score) std::printf(", k = %" PRId64, k);
      std::printf(", %d %s\n", mpi.world(), mpi.world() == 1 ? "rank" : "ranks");
      std::fflush(stdout);
    }
    // Hierarchical models (encode): every group's posterior mean, group after group, and
    // its KL, after mu and logvar.
    const VaeModel& model = *m.replica.model;
    std::vector<int> group_dims;
    for (int l = 0; !score && model.kl_groups() > 1 && l < model.kl_groups(); ++l) group_dims.push_back(model.group_dim(l));
    int all_groups = 0;
    for (int d : group_dims) all_groups += d;
    const int groups = int(group_dims.size());
    // Per image: label, then score: nll, nelbo, recon, kl; encode: mu, logvar (and the groups').
    const int columns = score ? 5 : 1 + 2 * latent + all_groups + groups;
    const std::vector<double> v = per_image_columns(
        config, mpi, m, int(batch), int(k), columns, command.name.c_str(),
        [&](const ImageScorer& s, int r, double* row) {
          row[0] = s.label(r);
          if (score) {
            row[1] = -double(s.log_mean_weight(r));
            row[2] = double(s.recon(r)) + double(s.kl(r));
            row[3] = s.recon(r);
            row[4] = s.kl(r);
          } else {
            for (int j = 0; j < 2 * latent; ++j) row[1 + j] = s.mu(r)[j];
            for (int j = 0; j < all_groups; ++j) row[1 + 2 * latent + j] = s.group_mu(r)[j];
            for (int l = 0; l < groups; ++l) row[1 + 2 * latent + all_groups + l] = s.group_kl(r, l);
          }
        },
        /*group_means=*/groups > 0);
    if (!mpi.is_root()) return 0;
    const std::string path = out_path(out, command.name, m.checkpoint.step, score ? ".csv" : ".h5");
    const bool labels = m.data.has_labels;
    auto column = [&](int c) {
      std::vector<float> f(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) f[size_t(i)] = float(v[size_t(i) * columns + size_t(c)]);
      return f;
    };
    if (score && path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0) {
      std::ostringstream csv;
      csv.precision(9);
      csv << "index," << (labels ? "label," : "") << "nll,nelbo,recon,kl\n";
      for (int64_t i = 0; i < n; ++i) {
        const double* row = &v[size_t(i) * columns];
        csv << i << ',';
        if (labels) csv << int32_t(row[0]) << ',';
        csv << row[1] << ',' << row[2] << ',' << row[3] << ',' << row[4] << '\n';
      }
      write_file_atomically(path, csv.str());
    } else {
      write_hdf5_atomically(path, [&](hid_t file) {
        std::vector<int64_t> index(static_cast<size_t>(n));
        std::vector<int32_t> label(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
          index[size_t(i)] = i;
          label[size_t(i)] = int32_t(v[size_t(i) * columns]);
        }
        if (score) {
          const char* names[] = {"nll", "nelbo", "recon", "kl"};
          for (int c = 0; c < 4; ++c) h5::write_floats(file, names[c], {n}, column(1 + c).data());
          h5::write_attr(file, "iw_samples", k);
          h5::write_attr(file, "seed", uint64_t(config.run.seed));
        } else {
          for (int half = 0; half < 2; ++half) {
            std::vector<float> f(size_t(n) * size_t(latent));
            for (int64_t i = 0; i < n; ++i)
              for (int j = 0; j < latent; ++j)
                f[size_t(i) * latent + size_t(j)] = float(v[size_t(i) * columns + 1 + size_t(half * latent + j)]);
            h5::write_floats(file, half ? "logvar" : "mu", {n, latent}, f.data());
          }
          // column c0 onwards, `width` values per image -> an images x width dataset
          auto block = [&](const std::string& name, int c0, int width) {
            std::vector<float> f(size_t(n) * size_t(width));
            for (int64_t i = 0; i < n; ++i)
              for (int j = 0; j < width; ++j)
                f[size_t(i) * size_t(width) + size_t(j)] = float(v[size_t(i) * columns + size_t(c0 + j)]);
            h5::write_floats(file, name, {n, int64_t(width)}, f.data());
          };
          for (int l = 0, c0 = 1 + 2 * latent; l < groups; c0 += group_dims[size_t(l)], ++l)
            block("group_" + std::to_string(l) + "_mu", c0, group_dims[size_t(l)]);
          if (groups > 0) block("group_kl", 1 + 2 * latent + all_groups, groups);
          h5::write_attr(file, "model", m.replica.model->type());
        }
        h5::write_ints(file, "index", {n}, index.data());
        if (labels) h5::write_ints(file, "labels", {n}, label.data());
        h5::write_attr(file, "checkpoint", m.checkpoint.path);
        h5::write_attr(file, "step", m.checkpoint.step);
        h5::write_attr(file, "data", m.data.manifest_path);
      });
    }
    if (score) {
      double nll = 0;
      for (int64_t i = 0; i < n; ++i) nll += v[size_t(i) * columns + 1];
      std::printf("  mean nll (k=%" PRId64 ")  %.4f nats over %" PRId64 " images\n", k, nll / double(n), n);
    }
    std::printf("elbo %s: wrote %s\n", command.name.c_str(), path.c_str());
    return 0;
  });
}

}  // namespace

int cmd_encode(int argc, char** argv) { return run_tool(argc, argv, Tool::kEncode); }
int cmd_score(int argc, char** argv) { return run_tool(argc, argv, Tool::kScore); }

}  // namespace elbo::cli
