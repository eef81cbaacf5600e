// Where a replica computes: the CPU, or one CUDA device.
#pragma once
#include <string>

namespace elbo {

enum class DeviceType { kCPU, kCUDA };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;  // CUDA ordinal among the visible devices; 0 for the CPU

  bool is_cuda() const { return type == DeviceType::kCUDA; }
  std::string str() const { return is_cuda() ? "cuda:" + std::to_string(index) : std::string("cpu"); }
};

}  // namespace elbo
