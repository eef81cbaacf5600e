// elbo scaling-plot DIR: the picture of a launch/scaling.sh sweep, from the CSV files its
// report wrote (scaling.csv, projection.csv), drawn by the built-in renderer so that the
// sweep needs nothing beyond elbo and Python's standard library.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "elbo/error.h"
#include "elbo/train/run_outputs.h"
#include "help.h"
#include "multi_line_panel.h"

namespace elbo::cli {
namespace {
namespace fs = std::filesystem;

const char* kHelp =
    "usage: elbo scaling-plot DIR [--out PNG] [--title TEXT]\n"
    "\n"
    "Draws the results of a scaling sweep (launch/scaling.sh) from DIR/scaling.csv and\n"
    "DIR/projection.csv, four panels: samples/s against ranks with ideal scaling, parallel\n"
    "efficiency, the step split (compute, all-reduce wait, data wait, and the alpha-beta\n"
    "model's all-reduce), and the model's projected efficiency on 8..1024 H100 GPUs (ring,\n"
    "tree, hierarchical). docs/scaling.md explains every line.\n"
    "\n"
    "  DIR           the sweep's output folder\n"
    "  --out PNG     where to write; default DIR/scaling.png\n"
    "  --title TEXT  the line above the panels; default DIR\n"
    "  -h, --help    this help\n"
    "\n"
    "example:\n"
    "  elbo scaling-plot build/scaling/fashion_mlp --out docs/img/scaling_fashion_mlp.png\n";

const Rgb kBlue{31, 119, 180}, kOrange{255, 127, 14}, kGreen{44, 160, 44}, kRed{214, 39, 40}, kPurple{148, 103, 189},
    kGray{120, 120, 120};

// A CSV file of plain fields (no quoting: the sweep's report writes none) by column.
struct Table {
  std::string path;
  std::map<std::string, std::vector<std::string>> columns;
  size_t rows = 0;

  const std::vector<std::string>& column(const std::string& name) const {
    auto it = columns.find(name);
    ELBO_CHECK(it != columns.end(), path << " has no column '" << name << "'");
    return it->second;
  }
  // A numeric column; empty fields (no value for this row) are NaN.
  std::vector<double> numbers(const std::string& name) const {
    std::vector<double> out;
    for (const std::string& s : column(name)) {
      if (s.empty()) {
        out.push_back(std::nan(""));
        continue;
      }
      size_t used = 0;
      double v = 0;
      try {
        v = std::stod(s, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      ELBO_CHECK(used == s.size(), path << ": column " << name << " holds '" << s << "', not a number");
      out.push_back(v);
    }
    return out;
  }
};

std::vector<std::string> split_fields(std::string line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF files (Python's csv default)
  std::vector<std::string> f;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) f.push_back(cell);
  if (!line.empty() && line.back() == ',') f.push_back("");
  return f;
}

Table read_csv(const std::string& path) {
  std::ifstream in(path);
  ELBO_CHECK(in, "cannot read " << path << " (run launch/scaling.sh, or launch/lib/scaling_report.py, first)");
  Table t;
  t.path = path;
  std::string line;
  ELBO_CHECK(std::getline(in, line), path << " is empty");
  const std::vector<std::string> header = split_fields(line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f = split_fields(line);
    ELBO_CHECK(f.size() == header.size(),
               path << ": row " << t.rows + 1 << " has " << f.size() << " fields, the header " << header.size());
    for (size_t i = 0; i < f.size(); ++i) t.columns[header[i]].push_back(f[i]);
    ++t.rows;
  }
  ELBO_CHECK(t.rows > 0, path << " holds no rows");
  return t;
}

// The rows of one mode, in the order of the file (the report sorts them by rank count).
NamedSeries pick(const Table& t, const std::string& mode, const std::string& column, const std::string& name, Rgb color,
                 bool dashed = false) {
  NamedSeries s{name, {}, {}, color, dashed};
  const std::vector<std::string>& modes = t.column("mode");
  const std::vector<double> ranks = t.numbers("ranks"), y = t.numbers(column);
  for (size_t i = 0; i < t.rows; ++i)
    if (modes[i] == mode) s.x.push_back(ranks[i]), s.y.push_back(y[i]);
  return s;
}

// Ideal scaling of samples/s: the first point times ranks / its ranks.
NamedSeries ideal(const NamedSeries& measured, const std::string& name, Rgb color) {
  NamedSeries s{name, measured.x, {}, color, true};
  for (double r : measured.x) s.y.push_back(measured.y.empty() ? NAN : measured.y[0] * r / measured.x[0]);
  return s;
}

}  // namespace

int cmd_scaling_plot(int argc, char** argv) {
  if (wants_help(argc, argv)) return print_help(kHelp);
  std::string dir, out, title;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--out" || a == "--title") && i + 1 < argc) (a == "--out" ? out : title) = argv[++i];
    else if (a == "--out" || a == "--title") return usage_error("scaling-plot", a + " needs a value");
    else if (a.rfind("-", 0) != 0 && dir.empty()) dir = a;
    else return usage_error("scaling-plot", "unexpected argument '" + a + "'");
  }
  if (dir.empty()) return usage_error("scaling-plot", "missing DIR (the output folder of launch/scaling.sh)");
  try {
    const Table runs = read_csv((fs::path(dir) / "scaling.csv").string());
    const Table proj = read_csv((fs::path(dir) / "projection.csv").string());
    // Panels over rank or GPU counts (doubling: a log2 axis), y from 0.
    auto panel = [](const std::string& title, const std::string& x_label) {
      MultiPanel p;
      p.title = title, p.x_label = x_label, p.log2_x = true, p.y_min = 0;
      return p;
    };
    const std::pair<std::string, Rgb> kModes[] = {{"strong", kBlue}, {"weak", kOrange}};
    std::vector<MultiPanel> panels = {panel("samples/s", "ranks"), panel("parallel efficiency", "ranks")};
    for (const auto& [mode, color] : kModes) {
      NamedSeries rate = pick(runs, mode, "samples_per_s", mode, color);
      if (rate.x.empty()) continue;
      panels[0].series.push_back(ideal(rate, mode + ", ideal", color));
      panels[0].series.push_back(std::move(rate));
      panels[1].series.push_back(pick(runs, mode, "efficiency", mode, color));
    }
    // Ideal efficiency: 1 at every rank count measured.
    NamedSeries one{"ideal", runs.numbers("ranks"), {}, kGray, true};
    std::sort(one.x.begin(), one.x.end());
    one.y.assign(one.x.size(), 1.0);
    panels[1].series.push_back(std::move(one));

    // The step split of the strong runs (the weak ones when the sweep has no strong runs).
    const std::string mode = pick(runs, "strong", "step_ms", "", kBlue).x.empty() ? "weak" : "strong";
    panels.push_back(panel("ms per step (" + mode + ")", "ranks"));
    panels[2].series = {pick(runs, mode, "step_ms", "step", kGray), pick(runs, mode, "compute_ms", "compute", kBlue),
                        pick(runs, mode, "comm_ms", "all-reduce wait", kRed),
                        pick(runs, mode, "data_ms", "data wait", kGreen),
                        pick(runs, mode, "model_comm_ms", "all-reduce, model", kRed, true)};

    panels.push_back(panel("projected efficiency, H100", "GPUs (nodes of 8)"));
    MultiPanel& model = panels[3];
    model.y_max = 1;
    const std::vector<double> gpus = proj.numbers("gpus");
    model.series = {{"ring", gpus, proj.numbers("ring_efficiency"), kBlue, false},
                    {"tree", gpus, proj.numbers("tree_efficiency"), kOrange, false},
                    {"hierarchical", gpus, proj.numbers("hierarchical_efficiency"), kPurple, false}};

    constexpr int kWidth = 1200, kPanelHeight = 360, kHeader = 40;
    Canvas canvas(kWidth, kHeader + 2 * kPanelHeight, Rgb{255, 255, 255});
    canvas.text(12, 12, title.empty() ? dir : title, Rgb{40, 40, 40}, 2);
    for (size_t i = 0; i < panels.size(); ++i)
      draw_multi_panel(canvas, {int(i % 2) * kWidth / 2, kHeader + int(i / 2) * kPanelHeight, kWidth / 2, kPanelHeight},
                       panels[i]);
    const std::string path = resolve_output(out, "scaling.png", (fs::path(dir) / "scaling.png").string());
    create_parent_folders(path);
    canvas.write_png(path);
    std::printf("elbo scaling-plot: wrote %s (%dx%d)\n", path.c_str(), canvas.width(), canvas.height());
  } catch (const Error& e) {
    std::fprintf(stderr, "elbo scaling-plot: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace elbo::cli
