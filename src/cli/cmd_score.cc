// elbo encode / elbo score: one value (or vector) per image of a shard set, from a
// checkpoint, computed as `elbo eval` computes its averages (image_scores.h).
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "elbo/error.h"
#include "elbo/io/hdf5_util.h"
#include "elbo/train/run_outputs.h"
#include "elbo/train/signals.h"
#include "hdf5_output.h"
#include "help.h"
#include "model_tools.h"
#include "per_image_rows.h"
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
    "slice); rank 0 prints a progress line with an ETA when it takes long. The rows are\n"
    "written as they are done, a batch at a time, into FILE.h5.tmp, renamed over --out at\n"
    "the end: no rank holds more than two batches of them, and an error or an interrupt\n"
    "removes the temporary file and writes nothing over --out.\n"
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
    "rank 0 prints a progress line with an ETA when it takes long. The file appears whole\n"
    "at the end (HDF5: written a batch at a time into FILE.h5.tmp, then renamed), so an\n"
    "error or an interrupt writes nothing over --out.\n"
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

// One dataset of the output: `width` values an image from column first_column of its row
// (images x width when matrix, else one value an image).
struct Dataset {
  std::string name;
  int width, first_column;
  bool matrix;
};

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
    // From the start: rank 0 creates FILE.tmp before the first image is scored, and Ctrl-C
    // must then end the work with an error (which removes it), not kill the process.
    install_stop_signal_handlers();
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
    // Per image: label, then score: nll, nelbo, recon, kl; encode: mu, logvar, and for a
    // hierarchy every group's posterior mean, group after group, then each group's KL.
    const VaeModel& model = *m.replica.model;
    std::vector<Dataset> sets;
    if (score) {
      for (const char* name : {"nll", "nelbo", "recon", "kl"}) sets.push_back({name, 1, 1 + int(sets.size()), false});
    } else {
      sets.push_back({"mu", latent, 1, true});
      sets.push_back({"logvar", latent, 1 + latent, true});
      const int groups = model.kl_groups() > 1 ? model.kl_groups() : 0;
      int c0 = 1 + 2 * latent;
      for (int l = 0; l < groups; c0 += model.group_dim(l), ++l)
        sets.push_back({"group_" + std::to_string(l) + "_mu", model.group_dim(l), c0, true});
      if (groups > 0) sets.push_back({"group_kl", groups, c0, true});
    }
    const int columns = sets.back().first_column + sets.back().width;
    const bool group_means = !score && sets.size() > 2;
    const std::string path = out_path(out, command.name, m.checkpoint.step, score ? ".csv" : ".h5");
    const bool csv = path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
    const bool labels = m.data.has_labels;

    // Rank 0 writes the rows as they arrive: into the HDF5 file's datasets, or, for a CSV
    // file (score: 5 values an image), kept in image order and written at the end.
    std::unique_ptr<Hdf5Output> h5out;
    if (mpi.is_root() && !csv) {
      h5out = std::make_unique<Hdf5Output>(path);
      h5out->write([&](hid_t file) {
        for (const Dataset& d : sets) {
          if (d.matrix) h5::create_floats(file, d.name, {n, int64_t(d.width)});
          else h5::create_floats(file, d.name, {n});
        }
        h5::create_ints64(file, "index", {n});
        if (labels) h5::create_ints32(file, "labels", {n});
      });
    }
    std::vector<double> kept;  // CSV: every image's row; HDF5 score: every image's nll
    if (mpi.is_root()) kept.resize(size_t(n) * size_t(csv ? columns : score ? 1 : 0));
    std::vector<float> f;
    std::vector<int64_t> index;
    std::vector<int32_t> label;
    auto sink = [&](int64_t first, int rows, const double* v) {
      if (csv) {
        std::copy(v, v + size_t(rows) * size_t(columns), kept.begin() + first * columns);
        return;
      }
      if (score)
        for (int r = 0; r < rows; ++r) kept[size_t(first + r)] = v[size_t(r) * size_t(columns) + 1];
      h5out->write([&](hid_t file) {
        for (const Dataset& d : sets) {
          f.resize(size_t(rows) * size_t(d.width));
          for (int r = 0; r < rows; ++r)
            for (int j = 0; j < d.width; ++j)
              f[size_t(r) * size_t(d.width) + size_t(j)] = float(v[size_t(r) * size_t(columns) + size_t(d.first_column + j)]);
          h5::write_rows(h5::open_dataset(file, d.name).get(), first, rows, f.data());
        }
        index.resize(size_t(rows));
        label.resize(size_t(rows));
        for (int r = 0; r < rows; ++r) {
          index[size_t(r)] = first + r;
          label[size_t(r)] = int32_t(v[size_t(r) * size_t(columns)]);
        }
        h5::write_rows(h5::open_dataset(file, "index").get(), first, rows, index.data());
        if (labels) h5::write_rows(h5::open_dataset(file, "labels").get(), first, rows, label.data());
      });
    };
    stream_per_image_rows(
        config, mpi, m, int(batch), int(k), columns, command.name.c_str(),
        [&](const ImageScorer& s, int r, double* row) {
          row[0] = s.label(r);
          if (score) {
            row[1] = -double(s.log_mean_weight(r));
            row[2] = double(s.recon(r)) + double(s.kl(r));
            row[3] = s.recon(r);
            row[4] = s.kl(r);
            return;
          }
          for (int j = 0; j < 2 * latent; ++j) row[1 + j] = s.mu(r)[j];
          for (int j = 0; j < s.group_mu_size(); ++j) row[1 + 2 * latent + j] = s.group_mu(r)[j];
          for (int l = 0; l < s.kl_groups() && group_means; ++l)
            row[1 + 2 * latent + s.group_mu_size() + l] = s.group_kl(r, l);
        },
        sink, group_means);
    if (!mpi.is_root()) return 0;

    if (csv) {
      std::ostringstream text;
      text.precision(9);
      text << "index," << (labels ? "label," : "") << "nll,nelbo,recon,kl\n";
      for (int64_t i = 0; i < n; ++i) {
        const double* row = &kept[size_t(i) * columns];
        text << i << ',';
        if (labels) text << int32_t(row[0]) << ',';
        text << row[1] << ',' << row[2] << ',' << row[3] << ',' << row[4] << '\n';
      }
      write_file_atomically(path, text.str());
    } else {
      h5out->write([&](hid_t file) {
        if (score) {
          h5::write_attr(file, "iw_samples", k);
          h5::write_attr(file, "seed", uint64_t(config.run.seed));
        } else {
          h5::write_attr(file, "model", m.replica.model->type());
        }
        h5::write_attr(file, "checkpoint", m.checkpoint.path);
        h5::write_attr(file, "step", m.checkpoint.step);
        h5::write_attr(file, "data", m.data.manifest_path);
      });
      h5out->commit();
    }
    if (score) {
      double nll = 0;  // in image order, whatever order the rows arrived in
      for (int64_t i = 0; i < n; ++i) nll += csv ? kept[size_t(i) * columns + 1] : kept[size_t(i)];
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
