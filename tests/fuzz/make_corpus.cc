// Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/, a handful
// of small inputs each, valid ones included, made by elbo's own writers where elbo
// writes the format (shards, manifests, checkpoints). Regression inputs for findings
// are committed next to them by hand (named regress_*), not written here.
//   fuzz_make_corpus <source dir>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "elbo/train/checkpoint.h"
#include "fuzz_support.h"

namespace fs = std::filesystem;
using namespace elbo;

namespace {

std::string corpus;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(corpus + "/" + target);
  std::ofstream(corpus + "/" + target + "/" + name, std::ios::binary | std::ios::trunc) << bytes;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string gzip(const std::string& bytes) {
  const std::string path = fuzz::scratch_dir() + "/gz";
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), unsigned(bytes.size()));
  gzclose(f);
  return slurp(path);
}

// npy v1/v2/v3 with the given header dict and data.
std::string npy(const std::string& dict, const std::string& data, int version = 1) {
  std::string header = dict;
  const size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string s = "\x93NUMPY";
  s += char(version);
  s += '\0';
  const size_t n = header.size();
  s += char(n & 0xff);
  s += char((n >> 8) & 0xff);
  if (version != 1) s += std::string{char((n >> 16) & 0xff), char((n >> 24) & 0xff)};
  return s + header + data;
}

std::string bytes(size_t n, int mul) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char(i * size_t(mul) + 3);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <source dir>\n", argv[0]);
    return 2;
  }
  const std::string src = argv[1];
  corpus = src + "/tests/fuzz/corpus";

  // config: the shipped configs, small ones, overrides after a NUL byte.
  put("config", "fashion_mlp.yaml", slurp(src + "/configs/fashion_mlp.yaml"));
  put("config", "mnist_mlp.yaml", slurp(src + "/configs/mnist_mlp.yaml"));
  put("config", "empty.yaml", "");
  put("config", "flow.yaml", "train: {lr: 3e-4, steps: 10, global_batch: 64}\nmodel: {hidden: [8, 4], latent: 2}\n");
  put("config", "overrides.yaml", std::string("run: {seed: 7}\n") + '\0' + "train.lr=1e-3\nmodel.hidden=[16]\ndata.test=");

  // idx: images (plain, gzip), labels for the 6 images the target pairs them with.
  const std::string images = fuzz::idx_bytes({3, 4, 4});
  put("idx", "images_3x4x4.idx", images);
  put("idx", "images_3x4x4.idx.gz", gzip(images));
  std::string labels = fuzz::idx_bytes({6});
  for (size_t i = 8; i < labels.size(); ++i) labels[i] = char(i % 10);
  put("idx", "labels_6.idx", labels);
  put("idx", "labels_6.idx.gz", gzip(labels));

  // npy: uint8 and float32 images, [n,H,W] and [n,C,H,W], v1..v3, labels of 3 integer types.
  put("npy", "u1_3x4x4.npy", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (3, 4, 4), }", bytes(48, 7)));
  std::string floats(2 * 9 * 4, '\0');
  for (size_t i = 0; i < floats.size(); i += 4) floats[i + 3] = 0x3f;  // 0.5 and around
  put("npy", "f4_2x1x3x3_v2.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 3, 3), }", floats, 2));
  put("npy", "i8_labels_6_v3.npy", npy("{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": (6,)}",
                                      std::string("\1\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0\3\0\0\0\0\0\0\0"
                                                  "\4\0\0\0\0\0\0\0\5\0\0\0\0\0\0\0\6\0\0\0\0\0\0\0", 48), 3));
  put("npy", "i4_labels_6.npy", npy("{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }",
                                    std::string("\1\0\0\0\2\0\0\0\3\0\0\0\4\0\0\0\5\0\0\0\6\0\0\0", 24)));
  put("npy", "u1_labels_6.npy.gz", gzip(npy("{'descr': '|u1', 'fortran_order': False, 'shape': (6,), }", bytes(6, 1))));

  // manifest and shard: the very sets the targets read (fuzz::make_seed_shard_set).
  const std::string two = fuzz::make_seed_shard_set(fuzz::scratch_dir() + "/two", 2);
  put("manifest", "valid_2_shards.yaml", slurp(two));
  const std::string one = fuzz::make_seed_shard_set(fuzz::scratch_dir() + "/one", 1);
  put("manifest", "valid_1_shard.yaml", slurp(one));
  put("shard", "valid_6x4x4_labels.h5", slurp(fs::path(one).parent_path() / "shard_00000.h5"));
  put("shard", "other_3_samples.h5", slurp(fs::path(two).parent_path() / "shard_00001.h5"));

  // checkpoint: sealed, with and without Adam moments; and an unsealed (pre-seal) one.
  CheckpointState st;
  st.params = {{"encoder.0.weight", {2, 3}, {1, 2, 3, 4, 5, 6}}, {"encoder.0.bias", {2}, {0.5f, -0.5f}}};
  st.step = 40;
  st.cursor = 640;
  st.config_yaml = "train: {lr: 0.001}\n";
  st.model_config_yaml = "hidden: [2]\n";
  const std::string run = fuzz::scratch_dir() + "/run";
  save_checkpoint(run, st, 3);
  const std::string no_moments = slurp(checkpoint_path(run, 40));
  put("checkpoint", "sealed_no_moments.h5", no_moments);
  st.adam_m = st.params;
  st.adam_v = st.params;
  st.step = 41;
  save_checkpoint(run, st, 3);
  put("checkpoint", "sealed_with_moments.h5", slurp(checkpoint_path(run, 41)));
  // The seal is the first 512 bytes (an HDF5 user block); HDF5 finds its superblock at
  // offset 0 or 512 alike, so the rest is what elbo wrote before seals existed.
  put("checkpoint", "unsealed.h5", no_moments.substr(512));
  std::printf("seed corpora written to %s\n", corpus.c_str());
  return 0;
}
