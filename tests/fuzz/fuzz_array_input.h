// The IDX and npy targets: `elbo data convert` (convert_to_shards) with the input as
// the image file, then as the label file of 6 valid images. The readers take paths,
// so the input is written to a scratch file first.
#pragma once
#include <string>
#include <vector>

#include "fuzz_support.h"

namespace elbo::fuzz {

inline void convert_as_images_and_labels(const uint8_t* data, size_t size) {
  static const std::string images = write_file("six_images.idx", idx_bytes({6, 2, 2}));
  const std::string input = write_file("input", data, size);
  auto convert = [&](const std::string& image_file, const std::string& label_file) {
    ConvertOptions opt;
    opt.image_files = {image_file};
    if (!label_file.empty()) opt.label_files = {label_file};
    opt.out_dir = scratch_dir() + "/out";
    opt.shards = 2;
    opt.chunk_samples = 4;
    opt.overwrite = true;
    expect_success_or_error([&] { convert_to_shards(opt); });
  };
  convert(input, "");
  convert(images, input);
}

}  // namespace elbo::fuzz
