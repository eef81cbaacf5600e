// The metrics file: numbers without float noise (0.001, not 0.00100000005), absent values
// as null / empty, records read back by `elbo plot` from jsonl and csv, the kept log's
// last wall_s found at a resume, and malformed records named by file and line.
#include <gtest/gtest.h>

#include <cmath>

#include "elbo/error.h"
#include "elbo/train/metrics.h"
#include "support/temp_dir_test.h"
#include "support/text_files.h"

namespace elbo {
namespace {

class MetricsIoTest : public TempDirTest {
 protected:
  MetricsIoTest() : TempDirTest("elbo_metrics") {}
};

TEST(MetricsFormat, FloatsShortestDoublesNineDigitsAbsentNull) {
  EXPECT_EQ(format_metric(double(1e-3f)), "0.001");
  EXPECT_EQ(format_metric(double(0.99999994f)), "0.99999994");
  EXPECT_EQ(format_metric(1.0), "1");
  EXPECT_EQ(format_metric(254.10314178466797), "254.103142");
  EXPECT_EQ(format_metric(kMetricAbsent), "null");
}

TEST_F(MetricsIoTest, JsonlRoundTripWithAbsentValues) {
  const std::string path = dir_ + "/metrics.jsonl";
  {
    MetricsWriter w(path, "jsonl", 0);
    w.write({10, {{"loss", 300.5}, {"lr", double(1e-3f)}, {"samples_per_s", kMetricAbsent}}});
    w.write({20, {{"loss", 290.25}, {"lr", double(1e-3f)}, {"samples_per_s", 5000.0}, {"val_loss", 280.0}}});
  }
  EXPECT_NE(read_text(path).find("\"lr\": 0.001,"), std::string::npos) << read_text(path);
  EXPECT_NE(read_text(path).find("\"samples_per_s\": null"), std::string::npos) << read_text(path);
  const MetricsTable t = read_metrics(path);
  ASSERT_EQ(t.steps, (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(t.keys, (std::vector<std::string>{"loss", "lr", "samples_per_s", "val_loss"}));
  EXPECT_EQ(t.columns.at("loss")[1], 290.25);
  EXPECT_TRUE(std::isnan(t.columns.at("samples_per_s")[0]));
  EXPECT_EQ(t.columns.at("samples_per_s")[1], 5000.0);
  EXPECT_TRUE(std::isnan(t.columns.at("val_loss")[0])) << "a key first seen later is absent before";
}

TEST_F(MetricsIoTest, CsvRoundTripWithEmptyField) {
  const std::string path = dir_ + "/metrics.csv";
  {
    MetricsWriter w(path, "csv", 0);
    w.write({5, {{"loss", 1.5}, {"samples_per_s", kMetricAbsent}}});
    w.write({10, {{"loss", 1.25}, {"samples_per_s", 7.0}}});
  }
  EXPECT_EQ(read_text(path), "step,loss,samples_per_s\n5,1.5,\n10,1.25,7\n");
  const MetricsTable t = read_metrics(path);
  EXPECT_EQ(t.steps, (std::vector<int64_t>{5, 10}));
  EXPECT_TRUE(std::isnan(t.columns.at("samples_per_s")[0]));
  EXPECT_EQ(t.columns.at("samples_per_s")[1], 7.0);
}

TEST_F(MetricsIoTest, ResumeKeepsRecordsUpToTheStepAndTheirLastWallTime) {
  const std::string path = dir_ + "/metrics.jsonl";
  write_text(path, "{\"step\": 10, \"wall_s\": 1.5}\n{\"step\": 20, \"wall_s\": 3.25}\n{\"step\": 30, \"wall_s\": 5}\n");
  MetricsWriter w(path, "jsonl", 25);
  EXPECT_EQ(w.last_kept("wall_s"), 3.25);
  EXPECT_TRUE(std::isnan(w.last_kept("nothing")));
  EXPECT_EQ(read_metrics(path).steps, (std::vector<int64_t>{10, 20}));
}

TEST_F(MetricsIoTest, MalformedRecordNamesFileAndLine) {
  const std::string path = dir_ + "/metrics.jsonl";
  write_text(path, "{\"step\": 10, \"loss\": 1}\n{\"step\": 20, \"loss\": }\n");
  try {
    read_metrics(path);
    FAIL() << "read a malformed record";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.jsonl:2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace elbo
