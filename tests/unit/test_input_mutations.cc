// Mutation testing of every parser of user input: thousands of corrupted variants of
// valid files (bits flipped, bytes set to boundary values, runs deleted or repeated,
// random bytes inserted, truncation), from fixed seeds so a failure reproduces. Each
// variant must be accepted or rejected with an elbo::Error — never a crash, a hang,
// an allocation sized by a corrupted header (std::bad_alloc), or any other exception.
// The inputs: IDX (plain and gzip) and .npy images and labels through `data convert`,
// config YAML with --set overrides, a shard set's manifest, and checkpoints (where every
// change must be refused: it found that libhdf5 crashes on some damaged checkpoints,
// hence their seal, which is checked before HDF5 reads the file).
// ELBO_MUTATIONS_SCALE=N runs N times as many variants (for a deeper search by hand).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <string>

#include "elbo/config.h"
#include "elbo/data/shard_set.h"
#include "elbo/error.h"
#include "elbo/train/checkpoint.h"
#include "support/synthetic_data.h"
#include "support/temp_dir_test.h"
#include "support/text_files.h"

namespace elbo {
namespace {

namespace fs = std::filesystem;

// One random corruption of bytes; appends what it did to `what` (for the failure message).
std::string mutate(const std::string& in, std::mt19937& g, std::string& what) {
  std::string s = in;
  auto pos = [&](size_t n) { return n ? std::uniform_int_distribution<size_t>(0, n - 1)(g) : 0; };
  const int edits = 1 + int(g() % 3);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    const size_t at = pos(s.size());
    switch (g() % 6) {
      case 0: s[at] = char(uint8_t(s[at]) ^ uint8_t(1u << (g() % 8))); what += " flip@" + std::to_string(at); break;
      case 1: {
        const char values[] = {0, char(0xff), char(0x7f), char(0x80), '9', '-', ':', '\n'};
        s[at] = values[g() % sizeof values];
        what += " set@" + std::to_string(at);
        break;
      }
      case 2: s.erase(at, 1 + g() % 16); what += " erase@" + std::to_string(at); break;
      case 3: s.insert(at, s.substr(at, 1 + g() % 16)); what += " repeat@" + std::to_string(at); break;
      case 4: {
        std::string junk(1 + g() % 8, '\0');
        for (char& c : junk) c = char(g());
        s.insert(at, junk);
        what += " insert@" + std::to_string(at);
        break;
      }
      default: s.resize(at); what += " truncate@" + std::to_string(at); break;
    }
  }
  return s;
}

struct Outcome {
  int accepted = 0, rejected = 0;
};

// Runs `parse` on `count` mutations of `valid`; fails on anything but success or elbo::Error.
Outcome fuzz(const std::string& name, const std::string& valid, int count, uint32_t seed,
             const std::function<void(const std::string&)>& parse) {
  std::mt19937 g(seed);
  Outcome o;
  if (const char* scale = std::getenv("ELBO_MUTATIONS_SCALE")) count *= std::max(1, std::atoi(scale));
  for (int i = 0; i < count; ++i) {
    std::string what;
    const std::string variant = mutate(valid, g, what);
    try {
      parse(variant);
      ++o.accepted;
    } catch (const Error&) {
      ++o.rejected;
    } catch (const std::exception& e) {
      const std::string kept = make_temp_dir("elbo_mutation_failure") + "/variant";
      write_text(kept, variant);
      ADD_FAILURE() << name << " mutation " << i << " (seed " << seed << ":" << what << "): " << typeid(e).name()
                    << ": " << e.what() << "; the variant is in " << kept;
      return o;
    }
  }
  std::printf("%s: %d corrupted variants accepted, %d rejected with a clear error\n", name.c_str(), o.accepted,
              o.rejected);
  return o;
}

class InputMutations : public TempDirTest {
 protected:
  InputMutations() : TempDirTest("elbo_mutations") {}
};

TEST_F(InputMutations, ImageAndLabelFilesThroughConvert) {
  // 20 images 1x6x5 and their labels, as npy; the same as IDX (plain and gzip).
  const std::string images_npy = write_synthetic_npy(dir_ + "/images.npy", 20, 1, 6, 5, 3);
  const std::string labels_npy = write_synthetic_labels_npy(dir_ + "/labels.npy", 20, 3);
  std::string pixels(20 * 30, '\0'), labels(20, '\0');
  for (int i = 0; i < 20; ++i) {
    labels[size_t(i)] = char(synthetic_label(3, i));
    for (int p = 0; p < 30; ++p) pixels[size_t(i) * 30 + size_t(p)] = char(i * 7 + p);
  }
  const std::string idx = write_idx(dir_ + "/images.idx", {20, 6, 5}, pixels, false);
  const std::string idx_gz = write_idx(dir_ + "/images.idx.gz", {20, 6, 5}, pixels, true);
  const std::string labels_idx = write_idx(dir_ + "/labels.idx", {20}, labels, false);

  int run = 0;
  auto convert_variant = [&](bool variant_is_labels, const std::string& other) {
    return [&, variant_is_labels, other](const std::string& bytes) {
      const std::string file = dir_ + "/variant_" + std::to_string(run);
      const std::string out = dir_ + "/out_" + std::to_string(run++);
      write_text(file, bytes);
      ConvertOptions opt;
      opt.image_files = {variant_is_labels ? other : file};
      opt.label_files = {variant_is_labels ? file : other};
      opt.out_dir = out;
      opt.shards = 2;
      opt.chunk_samples = 4;
      try {
        convert_to_shards(opt);
      } catch (...) {
        fs::remove(file);
        fs::remove_all(out);
        throw;
      }
      fs::remove(file);
      fs::remove_all(out);
    };
  };
  struct Case {
    const char* name;
    std::string path;
    bool is_labels;
    std::string other;
  } cases[] = {{"npy images", images_npy, false, labels_npy},
               {"IDX images", idx, false, labels_idx},
               {"gzip IDX images", idx_gz, false, labels_idx},
               {"npy labels", labels_npy, true, images_npy},
               {"IDX labels", labels_idx, true, idx}};
  uint32_t seed = 100;
  for (const Case& c : cases) {
    const Outcome o = fuzz(c.name, read_text(c.path), 300, seed++, convert_variant(c.is_labels, c.other));
    EXPECT_GT(o.rejected, 100) << c.name << ": most corruptions must be caught";
    if (HasFailure()) return;
  }
}

TEST_F(InputMutations, ConfigYamlAndOverrides) {
  const std::string valid = read_text(std::string(ELBO_SOURCE_DIR) + "/configs/fashion_mlp.yaml");
  const Outcome o = fuzz("config", valid, 3000, 7, [](const std::string& text) { parse_config(text, "fuzz.yaml"); });
  EXPECT_GT(o.rejected, 300);
  EXPECT_GT(o.accepted, 0) << "comment-only edits must still parse";
  const std::string set = "train.lr=3e-4";
  const Outcome s = fuzz("--set", set, 2000, 8, [&](const std::string& override_text) {
    parse_config(valid, "fashion_mlp.yaml", {override_text});
  });
  EXPECT_GT(s.rejected, 200);
}

TEST_F(InputMutations, ShardSetManifest) {
  const std::string manifest = make_synthetic_shard_set(dir_, 30, 1, 4, 4, 3, 5);
  const std::string valid = read_text(manifest);
  const Outcome o = fuzz("manifest", valid, 2000, 9, [&](const std::string& text) {
    write_text(manifest, text);
    open_shard_set(manifest, /*verify_checksums=*/true);
  });
  write_text(manifest, valid);
  EXPECT_GT(o.rejected, 300);
}

TEST_F(InputMutations, CheckpointsRefuseEveryChange) {
  CheckpointState st;
  st.params = {{"encoder.0.weight", {3, 4}, std::vector<float>(12, 0.25f)}, {"encoder.0.bias", {3}, {1, 2, 3}}};
  st.adam_m = st.params;
  st.adam_v = st.params;
  st.step = 40;
  st.cursor = 5120;
  st.config_yaml = "train: {lr: 0.001}\n";
  st.model_config_yaml = "hidden: [4]\n";
  save_checkpoint(dir_, st, 1);
  const std::string path = checkpoint_path(dir_, 40);
  const std::string valid = read_text(path);
  const std::string variant_path = dir_ + "/variant.h5";
  int changed = 0;
  const Outcome o = fuzz("checkpoint", valid, 1500, 11, [&](const std::string& bytes) {
    if (bytes == valid) return;  // a mutation that changed nothing
    ++changed;
    write_text(variant_path, bytes);
    load_checkpoint(variant_path);
    ADD_FAILURE() << "a changed checkpoint was accepted";
  });
  EXPECT_EQ(o.rejected, changed) << "every changed checkpoint must be refused";
}

}  // namespace
}  // namespace elbo
