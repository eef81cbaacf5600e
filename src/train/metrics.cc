#include "elbo/train/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "elbo/error.h"

namespace elbo {

int64_t metrics_line_step(const std::string& line, const std::string& format) {
  if (format == "csv") {
    if (line.empty() || !(line[0] >= '0' && line[0] <= '9')) return -1;  // header
    return std::strtoll(line.c_str(), nullptr, 10);
  }
  const std::string key = "\"step\": ";
  size_t at = line.find(key);
  if (at == std::string::npos) return -1;
  return std::strtoll(line.c_str() + at + key.size(), nullptr, 10);
}

std::string format_metric(double value) {
  if (std::isnan(value)) return "null";
  const float f = static_cast<float>(value);
  char buf[64];
  if (std::isfinite(value) && static_cast<double>(f) == value) {
    const auto r = std::to_chars(buf, buf + sizeof buf, f);  // shortest text that reads back as f
    return std::string(buf, r.ptr);
  }
  std::snprintf(buf, sizeof buf, "%.9g", value);
  return buf;
}

MetricsWriter::MetricsWriter(const std::string& path, const std::string& format, int64_t keep_up_to_step)
    : path_(path), format_(format) {
  // Keep the records of the steps already trained (rewritten through a temporary file).
  std::vector<std::string> kept;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      int64_t step = metrics_line_step(line, format);
      if (step >= 0 && step <= keep_up_to_step) kept.push_back(line), last_kept_line_ = line;
      if (step < 0 && format == "csv" && !line.empty()) kept.insert(kept.begin(), line), header_written_ = true;
    }
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    ELBO_CHECK(out.good(), "cannot write metrics file " << tmp);
    for (const std::string& l : kept) out << l << "\n";
  }
  ELBO_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot replace metrics file " << path);
  file_ = std::fopen(path.c_str(), "a");
  ELBO_CHECK(file_, "cannot open metrics file " << path << " for appending");
}

MetricsWriter::~MetricsWriter() {
  if (file_) std::fclose(file_);
}

double MetricsWriter::last_kept(const std::string& key) const {
  if (format_ == "csv") return kMetricAbsent;
  const std::string pattern = "\"" + key + "\": ";
  const size_t at = last_kept_line_.find(pattern);
  if (at == std::string::npos) return kMetricAbsent;
  const char* text = last_kept_line_.c_str() + at + pattern.size();
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  return end == text ? kMetricAbsent : v;
}

void MetricsWriter::write(const MetricsRecord& r) {
  std::ostringstream os;
  if (format_ == "csv") {
    if (!header_written_) {
      os << "step";
      for (const auto& kv : r.values) os << "," << kv.first;
      os << "\n";
      header_written_ = true;
    }
    os << r.step;
    for (const auto& kv : r.values) os << "," << (std::isnan(kv.second) ? "" : format_metric(kv.second));
  } else {
    os << "{\"step\": " << r.step;
    for (const auto& kv : r.values) os << ", \"" << kv.first << "\": " << format_metric(kv.second);
    os << "}";
  }
  os << "\n";
  const std::string text = os.str();
  std::fwrite(text.data(), 1, text.size(), file_);
  std::fflush(file_);
}

}  // namespace elbo
