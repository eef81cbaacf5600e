// read_metrics (metrics.h): the metrics files elbo writes, read back for `elbo plot`.
// JSON lines are flat objects of numbers (null: absent), which a small scanner reads;
// a string value is skipped, so records may carry labels later without breaking plots.
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "elbo/error.h"
#include "elbo/io/path_note.h"
#include "elbo/train/metrics.h"

namespace elbo {
namespace {

using Record = std::vector<std::pair<std::string, double>>;

class LineScanner {
 public:
  explicit LineScanner(const std::string& s) : s_(s) {}
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }
  bool string(std::string* out) {
    if (!eat('"')) return false;
    const size_t close = s_.find('"', i_);
    if (close == std::string::npos) return false;
    *out = s_.substr(i_, close - i_);
    i_ = close + 1;
    return true;
  }
  bool value(double* out) {
    skip_space();
    std::string ignored;
    if (s_.compare(i_, 4, "null") == 0) return i_ += 4, *out = kMetricAbsent, true;
    if (i_ < s_.size() && s_[i_] == '"') return string(&ignored) && (*out = kMetricAbsent, true);
    const char* begin = s_.c_str() + i_;
    char* end = nullptr;
    *out = std::strtod(begin, &end);
    if (end == begin) return false;
    i_ += size_t(end - begin);
    return true;
  }
  bool at_end() {
    skip_space();
    return i_ == s_.size();
  }

 private:
  const std::string& s_;
  size_t i_ = 0;
};

bool parse_json_record(const std::string& line, Record* out) {
  LineScanner in(line);
  if (!in.eat('{')) return false;
  if (in.eat('}')) return in.at_end();
  do {
    std::string key;
    double v = 0;
    if (!in.string(&key) || !in.eat(':') || !in.value(&v)) return false;
    out->emplace_back(key, v);
  } while (in.eat(','));
  return in.eat('}') && in.at_end();
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream ss(line);
  std::string f;
  while (std::getline(ss, f, ',')) fields.push_back(f);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

void add_record(MetricsTable& t, const Record& r, const std::string& where) {
  int64_t step = -1;
  for (const auto& [key, v] : r)
    if (key == "step") step = std::isfinite(v) ? int64_t(v) : -1;
  ELBO_CHECK(step >= 0, where << ": the record has no step");
  t.steps.push_back(step);
  for (const auto& [key, v] : r) {
    if (key == "step") continue;
    auto [it, added] = t.columns.try_emplace(key, t.steps.size() - 1, kMetricAbsent);
    if (added) t.keys.push_back(key);
    it->second.push_back(v);
  }
  for (auto& [key, column] : t.columns) column.resize(t.steps.size(), kMetricAbsent);
}

}  // namespace

MetricsTable read_metrics(const std::string& path) {
  std::ifstream in(path);
  ELBO_CHECK(in.good(), path << ": cannot read the metrics file" << relative_note(path));
  const bool csv = path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
  MetricsTable table;
  std::vector<std::string> header;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const std::string where = path + ":" + std::to_string(number);
    Record record;
    if (!csv) {
      ELBO_CHECK(parse_json_record(line, &record), where << ": not a metrics record (a flat JSON object of numbers)");
    } else if (header.empty()) {
      header = split_csv(line);
      continue;
    } else {
      const std::vector<std::string> fields = split_csv(line);
      ELBO_CHECK(fields.size() == header.size(), where << ": " << fields.size() << " fields, the header has " << header.size());
      for (size_t i = 0; i < fields.size(); ++i) {
        char* end = nullptr;
        const double v = std::strtod(fields[i].c_str(), &end);
        record.emplace_back(header[i], fields[i].empty() || *end ? kMetricAbsent : v);
      }
    }
    add_record(table, record, where);
  }
  return table;
}

}  // namespace elbo
