// elbo devices: what this binary can train on here — the CPU backend's cores and BLAS,
// whether CUDA was compiled in, and each visible GPU. `--count cuda` prints only the
// number of visible GPUs (for scripts and tests that need one).
#include <sched.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "commands.h"
#include "elbo/backend.h"
#include "elbo/error.h"
#include "help.h"

namespace elbo::cli {
namespace {

const char* kHelp =
    "usage: elbo devices [--count cuda]\n"
    "\n"
    "What this binary can train on here: the CPU cores (and how many this process may use),\n"
    "the CPU backend's compute library, whether CUDA was compiled in, and each visible GPU.\n"
    "\n"
    "  --count cuda   print only the number of visible GPUs (for scripts)\n"
    "  -h, --help     this help\n"
    "\n"
    "example:\n"
    "  elbo devices\n";

}  // namespace

int cmd_devices(int argc, char** argv) {
  if (wants_help(argc, argv)) return print_help(kHelp);
  if (argc == 3 && !std::strcmp(argv[1], "--count") && !std::strcmp(argv[2], "cuda")) {
    std::printf("%d\n", cuda_device_count());
    return 0;
  }
  if (argc != 1) return usage_error("devices", std::string("unexpected argument '") + argv[1] + "'");
  cpu_set_t mask;
  CPU_ZERO(&mask);
  const int in_mask = sched_getaffinity(0, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask) : -1;
  std::printf("cpu      %u cores (%d in this process's CPU mask); %s\n", std::thread::hardware_concurrency(), in_mask,
              cpu_compute_library_info().c_str());
  const std::string no_bf16 = cpu_bf16_unavailable_reason();
  std::printf("cpu      train.precision: bf16 %s\n",
              no_bf16.empty() ? "available (layer GEMMs in bf16 on this CPU's AMX or AVX512-BF16)"
                              : ("unavailable: " + no_bf16).c_str());
  if (!cuda_backend_compiled()) {
    std::printf("cuda     not compiled in (rebuild with nvcc on the PATH or -DELBO_CUDA=ON)\n");
    return 0;
  }
  const int gpus = cuda_device_count();
  std::printf("cuda     compiled; %d device(s) visible%s\n", gpus,
              gpus ? "" : " (no driver, no GPU, or CUDA_VISIBLE_DEVICES hides them)");
  for (int i = 0; i < gpus; ++i) {
    try {
      std::printf("cuda:%d   %s\n", i, cuda_device_description(i).c_str());
    } catch (const Error& e) {
      std::printf("cuda:%d   unusable: %s\n", i, e.what());
    }
  }
  return 0;
}

}  // namespace elbo::cli
