// elbo plot RUN_DIR: the curves of a run's metrics file as one PNG, a panel per series,
// drawn by the built-in renderer (io/line_plot.h), so users need nothing else installed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "commands.h"
#include "elbo/error.h"
#include "elbo/io/line_plot.h"
#include "elbo/io/path_note.h"
#include "elbo/train/metrics.h"
#include "elbo/train/run_outputs.h"
#include "help.h"

namespace elbo::cli {
namespace {
namespace fs = std::filesystem;

const char* kHelp =
    "usage: elbo plot RUN_DIR [--out PNG]\n"
    "\n"
    "Draws the curves of RUN_DIR/metrics.jsonl (or metrics.csv, or a metrics file given\n"
    "instead of RUN_DIR) against the step, one panel per series: loss, the IWAE bound (iwae\n"
    "runs), recon, kl, learning rate, throughput, and every validation series (keys starting\n"
    "with val) the log has.\n"
    "Records without a value of a series (null) are left out of its line, so validation,\n"
    "logged every train.valid_every steps, is one line.\n"
    "The picture is 1200 pixels wide, 3 panels per row, 330 pixels per row plus 40.\n"
    "\n"
    "  RUN_DIR     the run folder (run.dir of its config)\n"
    "  --out PNG   where to write (a folder: curves.png inside it); default RUN_DIR/curves.png\n"
    "  -h, --help  this help\n"
    "\n"
    "example:\n"
    "  elbo plot runs/fashion_mlp --out docs/img/fashion_curves.png\n";

constexpr int kWidth = 1200, kColumns = 3, kRowHeight = 330, kHeader = 40;

struct Known {
  const char* key;
  const char* title;
};
// Titles fit a panel (33 characters at the title's size) with the last value.
const Known kSeries[] = {{"loss", "loss, nats/image"},
                         {"iwae", "iwae bound, nats/image"},
                         {"recon", "recon, nats/image"},
                         {"kl", "kl, nats/image"},
                         {"lr", "learning rate"},
                         {"samples_per_s", "samples/s"}};

const Rgb kColors[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189}, {140, 86, 75}};

// The last finite value of a column, for the panel title.
std::string last_value(const std::vector<double>& v) {
  for (auto it = v.rbegin(); it != v.rend(); ++it)
    if (std::isfinite(*it)) {
      char buf[32];
      std::snprintf(buf, sizeof buf, std::fabs(*it) >= 1000 && std::fabs(*it) < 1e9 ? "%.0f" : "%.4g", *it);
      return buf;
    }
  return "";
}

}  // namespace

int cmd_plot(int argc, char** argv) {
  if (wants_help(argc, argv)) return print_help(kHelp);
  std::string run, out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) out = argv[++i];
    else if (a.rfind("--out=", 0) == 0) out = a.substr(6);
    else if (a.rfind("-", 0) != 0 && run.empty()) run = a;
    else return usage_error("plot", "unexpected argument '" + a + "'");
  }
  if (run.empty()) return usage_error("plot", "missing RUN_DIR (a run folder holding metrics.jsonl)");
  try {
    std::error_code ec;
    std::string metrics = run;
    if (fs::is_directory(run, ec)) {
      metrics = (fs::path(run) / "metrics.jsonl").string();
      if (!fs::exists(metrics, ec) && fs::exists(fs::path(run) / "metrics.csv", ec))
        metrics = (fs::path(run) / "metrics.csv").string();
    }
    ELBO_CHECK(fs::exists(metrics, ec),
               metrics << " does not exist" << relative_note(metrics) << "; train first (the log is written every train.log_every steps)");
    const MetricsTable table = read_metrics(metrics);
    ELBO_CHECK(!table.steps.empty(), metrics << " holds no records yet");

    std::vector<PlotSeries> panels;
    std::vector<double> steps(table.steps.begin(), table.steps.end());
    auto add = [&](const std::string& key, const std::string& title) {
      const std::vector<double>& y = table.columns.at(key);
      PlotSeries series{title + ": " + last_value(y), "step", {}, {}};
      // A null is a record without this series (validation every train.valid_every steps,
      // no rate right after a resume), not a break in it: left in, it would cut the line
      // into lone dots.
      for (size_t i = 0; i < y.size(); ++i)
        if (std::isfinite(y[i])) series.x.push_back(steps[i]), series.y.push_back(y[i]);
      panels.push_back(std::move(series));
    };
    for (const Known& k : kSeries)
      if (table.columns.count(k.key)) add(k.key, k.title);
    for (const std::string& key : table.keys)
      if (key.rfind("val", 0) == 0) add(key, key);
    ELBO_CHECK(!panels.empty(), metrics << " has none of the series elbo plots (loss, recon, kl, lr, samples_per_s, val*)");

    const int rows = (int(panels.size()) + kColumns - 1) / kColumns;
    Canvas canvas(kWidth, kHeader + rows * kRowHeight, Rgb{255, 255, 255});
    canvas.text(12, 12, metrics + "  (steps " + std::to_string(table.steps.front()) + ".." +
                            std::to_string(table.steps.back()) + ", " + std::to_string(table.steps.size()) + " records)",
                Rgb{40, 40, 40}, 2);
    const int panel_width = kWidth / kColumns;
    for (size_t i = 0; i < panels.size(); ++i) {
      const PanelBox box{int(i % kColumns) * panel_width, kHeader + int(i / kColumns) * kRowHeight, panel_width, kRowHeight};
      draw_line_panel(canvas, box, panels[i], kColors[i % (sizeof kColors / sizeof kColors[0])]);
    }
    const std::string dir = fs::is_directory(run, ec) ? run : fs::path(run).parent_path().string();
    const std::string path = resolve_output(out, "curves.png", (fs::path(dir.empty() ? "." : dir) / "curves.png").string());
    create_parent_folders(path);
    canvas.write_png(path);
    std::printf("elbo plot: wrote %s (%dx%d, %zu panels)\n", path.c_str(), canvas.width(), canvas.height(), panels.size());
  } catch (const Error& e) {
    std::fprintf(stderr, "elbo plot: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace elbo::cli
