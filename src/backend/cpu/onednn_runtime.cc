#include "onednn_runtime.h"

#include <oneapi/dnnl/dnnl.h>

#include <string>

#include "elbo/backend.h"

#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <dlfcn.h>

#include "elbo/error.h"
#elif DNNL_CPU_THREADING_RUNTIME != DNNL_RUNTIME_SEQ
// TBB or a threadpool runtime would need their own way to run one call on one thread.
#error "elbo needs oneDNN built with the OpenMP or the sequential CPU runtime"
#endif

namespace elbo {
namespace {

const char* isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "generic (no JIT code)";
  }
}

}  // namespace

void onednn_use_one_thread() {
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  // The OpenMP runtime that libdnnl loaded (GCC's libgomp in Debian), looked up in the
  // process rather than linked: elbo itself is not compiled with OpenMP, so any
  // compiler builds it (clang without its libomp included).
  using SetThreads = void (*)(int);
  static const SetThreads set_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  thread_local bool done = false;
  if (!done) {
    ELBO_CHECK(set_threads, "oneDNN was built with OpenMP, but omp_set_num_threads is not in the process");
    set_threads(1);
    done = true;
  }
#endif
}

std::string cpu_compute_library_info() {
  const dnnl_version_t* v = dnnl_version();
  const char* runtime = DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP ? "OpenMP" : "sequential";
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
         " (" + runtime + " runtime, one thread per call), ISA " + isa_name(dnnl_get_effective_cpu_isa());
}

}  // namespace elbo
