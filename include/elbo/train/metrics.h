// Rank 0's metrics file: one record per log interval, JSON lines or CSV.
// On resume the file is cut back to the records at or before the checkpoint's step,
// so an interrupted-and-resumed run leaves the same log as an uninterrupted one.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace elbo {

struct MetricsRecord {
  int64_t step = 0;
  std::vector<std::pair<std::string, double>> values;  // in output order
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

 private:
  std::string path_, format_;
  std::FILE* file_ = nullptr;
  bool header_written_ = false;
};

// Reads the step of a metrics line (jsonl: "step": N; csv: first column), -1 if none.
int64_t metrics_line_step(const std::string& line, const std::string& format);

}  // namespace elbo
