// Where eval / sample / reconstruct write: next to the checkpoint (its run folder for a
// checkpoint in <run>/checkpoints), named by step (and image count for a subset), or
// where --out says (a folder: the default name inside it).
#include <gtest/gtest.h>

#include <filesystem>

#include "elbo/train/evaluator.h"
#include "elbo/train/run_outputs.h"
#include "support/temp_dir_test.h"
#include "support/text_files.h"

namespace elbo {
namespace {

class RunOutputsTest : public TempDirTest {
 protected:
  RunOutputsTest() : TempDirTest("elbo_outputs") {}
};

TEST(RunOutputs, CheckpointOutputDir) {
  EXPECT_EQ(checkpoint_output_dir("runs/a/checkpoints/ckpt_000000010.h5"), "runs/a");
  EXPECT_EQ(checkpoint_output_dir("checkpoints/ckpt_000000010.h5"), ".");
  EXPECT_EQ(checkpoint_output_dir("/tmp/x/ckpt_000000010.h5"), "/tmp/x");
  EXPECT_EQ(checkpoint_output_dir("ckpt_000000010.h5"), ".");
}

TEST(RunOutputs, FileNames) {
  EXPECT_EQ(step_file_name("samples", 4687, ".png"), "samples_step000004687.png");
  EXPECT_EQ(eval_result_name(4687, 10000, 10000), "eval_step000004687.json");
  EXPECT_EQ(eval_result_name(4687, 100, 10000), "eval_step000004687_first100.json");
}

TEST_F(RunOutputsTest, ResolveOutputAndAtomicWriteCreateFolders) {
  EXPECT_EQ(resolve_output("", "x.json", "default/x.json"), "default/x.json");
  EXPECT_EQ(resolve_output(dir_, "x.json", "d"), dir_ + "/x.json");
  EXPECT_EQ(resolve_output(dir_ + "/new/", "x.json", "d"), dir_ + "/new/x.json");
  EXPECT_EQ(resolve_output(dir_ + "/f.json", "x.json", "d"), dir_ + "/f.json");
  const std::string deep = dir_ + "/a/b/c.txt";
  write_file_atomically(deep, "hello\n");
  EXPECT_EQ(read_text(deep), "hello\n");
  EXPECT_FALSE(std::filesystem::exists(deep + ".tmp"));
  EXPECT_TRUE(same_folder(dir_ + "/a/b", dir_ + "/a/./b/"));
  EXPECT_FALSE(same_folder(dir_ + "/a", dir_ + "/a/b"));
}

// The collapse warnings of an evaluation: a collapsed top group of a hierarchy whose
// other groups are active is named alone, not reported as a collapsed model (it was
// before: the check read the top group's units only).
TEST(RunOutputs, CollapseWarningsNameTheCollapsedGroups) {
  EvalResult flat;
  flat.latent_dim = 8;
  flat.active_units = 3;
  EXPECT_TRUE(collapse_warnings(flat).empty());
  flat.active_units = 0;
  ASSERT_EQ(collapse_warnings(flat).size(), 1u);
  EXPECT_NE(collapse_warnings(flat)[0].find("no active latent dimension"), std::string::npos);

  EvalResult hvae;
  hvae.latent_dim = 4;
  hvae.active_units = 0;  // the top group's
  hvae.group_dims = {4, 8, 16};
  hvae.active_units_per_group = {0, 0, 12};
  const std::vector<std::string> w = collapse_warnings(hvae);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].find("stochastic group 0 (0 = top) has no active unit of its 4"), 0u) << w[0];
  EXPECT_EQ(w[1].find("stochastic group 1 (0 = top) has no active unit of its 8"), 0u) << w[1];
  hvae.active_units_per_group = {0, 0, 0};
  ASSERT_EQ(collapse_warnings(hvae).size(), 1u);
  EXPECT_NE(collapse_warnings(hvae)[0].find("no active latent dimension"), std::string::npos);
  hvae.active_units_per_group = {1, 2, 3};
  EXPECT_TRUE(collapse_warnings(hvae).empty());
}

}  // namespace
}  // namespace elbo
