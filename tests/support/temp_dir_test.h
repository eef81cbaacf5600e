// A test fixture with a fresh scratch directory, dir_, removed after the test unless it
// failed (then its files are left to look at).
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "support/synthetic_data.h"

namespace elbo {

class TempDirTest : public ::testing::Test {
 protected:
  explicit TempDirTest(std::string prefix) : prefix_(std::move(prefix)) {}
  void SetUp() override { dir_ = make_temp_dir(prefix_); }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;

 private:
  std::string prefix_;
};

}  // namespace elbo
