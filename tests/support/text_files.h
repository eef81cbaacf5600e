// Whole-file text reads and writes for tests.
#pragma once
#include <string>

namespace elbo {

std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);

}  // namespace elbo
