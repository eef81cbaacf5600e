// Rank 0's metrics file: one record per log interval, JSON lines or CSV, and the
// reader `elbo plot` uses. On resume the file is cut back to the records at or before
// the checkpoint's step (docs/training.md says what the first record after a resume holds).
//
// Numbers are written so that they read back exactly without noise digits: a value that
// is exactly a 32-bit float (the learning rate, a KL weight) as the shortest text of
// that float (0.001, not 0.00100000005), any other with 9 significant digits. A value
// not known for a record (kMetricAbsent, e.g. a rate timed over too few steps) is
// written as null (jsonl) or an empty field (csv).
#pragma once
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace elbo {

constexpr double kMetricAbsent = std::numeric_limits<double>::quiet_NaN();

struct MetricsRecord {
  int64_t step = 0;
  std::vector<std::pair<std::string, double>> values;  // in output order; NaN: absent
};

class MetricsWriter {
 public:
  // format: "jsonl" or "csv". Keeps existing records with step <= keep_up_to_step.
  MetricsWriter(const std::string& path, const std::string& format, int64_t keep_up_to_step);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  void write(const MetricsRecord& record);
  const std::string& path() const { return path_; }
  // The value of `key` in the last record kept from an earlier run (jsonl), NaN if none:
  // lets a resumed run continue a running total such as wall_s.
  double last_kept(const std::string& key) const;

 private:
  std::string path_, format_;
  std::FILE* file_ = nullptr;
  bool header_written_ = false;
  std::string last_kept_line_;
};

// Reads the step of a metrics line (jsonl: "step": N; csv: first column), -1 if none.
int64_t metrics_line_step(const std::string& line, const std::string& format);

// The text of a metrics value as the writer puts it into a jsonl file (see above).
std::string format_metric(double value);

// A metrics file read back: one column per key, NaN where a record lacks the key.
struct MetricsTable {
  std::vector<int64_t> steps;
  std::vector<std::string> keys;                       // in first-seen order
  std::map<std::string, std::vector<double>> columns;  // each as long as steps
};

// Reads a metrics.jsonl or metrics.csv file (by extension). Throws elbo::Error naming
// the file and line of a record it cannot read.
MetricsTable read_metrics(const std::string& path);

}  // namespace elbo
