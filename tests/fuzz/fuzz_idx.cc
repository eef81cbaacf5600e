// The IDX reader (src/data/idx_reader.cc, plain or gzip) through `data convert`.
// Inputs that start like an npy file belong to fuzz_npy and are rejected (-1), so
// this campaign stays on IDX.
#include "fuzz_array_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 0 && data[0] == 0x93) return -1;
  elbo::fuzz::convert_as_images_and_labels(data, size);
  return 0;
}
