#include "support/text_files.h"

#include <fstream>
#include <sstream>

namespace elbo {

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace elbo
