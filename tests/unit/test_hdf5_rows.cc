// Datasets written a block of rows at a time (h5::create_floats / write_rows), as elbo
// encode and score write their output while images are still being scored: blocks in any
// order give the array written whole, and a block outside the dataset is an error naming it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "elbo/error.h"
#include "elbo/io/hdf5_util.h"
#include "support/temp_dir_test.h"

namespace elbo {
namespace {

class Hdf5RowsTest : public TempDirTest {
 protected:
  Hdf5RowsTest() : TempDirTest("elbo_h5rows") {}
};

TEST_F(Hdf5RowsTest, BlocksInAnyOrderMakeTheWholeArray) {
  const std::string path = dir_ + "/rows.h5";
  const int64_t n = 7, width = 3;
  std::vector<float> whole(size_t(n * width));
  for (size_t i = 0; i < whole.size(); ++i) whole[i] = 0.5f * float(i) - 3.0f;
  {
    h5::Session session;
    h5::Handle file = h5::create_file(path);
    h5::Handle m = h5::create_floats(file.get(), "m", {n, width});
    h5::Handle v = h5::create_floats(file.get(), "v", {n});
    h5::Handle idx = h5::create_ints64(file.get(), "index", {n});
    // Rows 4-6, then 0-1, then 2-3: as rank 1's batches arrive between rank 0's.
    for (auto [first, rows] : {std::pair<int64_t, int64_t>{4, 3}, {0, 2}, {2, 2}}) {
      h5::write_rows(m.get(), first, rows, whole.data() + first * width);
      h5::write_rows(v.get(), first, rows, whole.data() + first);
      std::vector<int64_t> index;
      for (int64_t i = first; i < first + rows; ++i) index.push_back(100 + i);
      h5::write_rows(idx.get(), first, rows, index.data());
    }
    h5::write_rows(m.get(), 3, 0, whole.data());  // an empty block writes nothing
    file.close();
  }
  h5::Session session;
  h5::Handle file = h5::open_file(path);
  const h5::FloatArray m = h5::read_floats(h5::open_dataset(file.get(), "m").get());
  EXPECT_EQ(m.shape, (std::vector<int64_t>{n, width}));
  EXPECT_EQ(m.values, whole);
  const h5::FloatArray v = h5::read_floats(h5::open_dataset(file.get(), "v").get());
  EXPECT_EQ(v.shape, (std::vector<int64_t>{n}));
  EXPECT_EQ(v.values, std::vector<float>(whole.begin(), whole.begin() + n));
  h5::Handle idx = h5::open_dataset(file.get(), "index");
  std::vector<int64_t> index(static_cast<size_t>(n), 0);
  ASSERT_GE(H5Dread(idx.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, index.data()), 0);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(index[size_t(i)], 100 + i);
}

TEST_F(Hdf5RowsTest, ABlockOutsideTheDatasetIsAnErrorNamingIt) {
  const std::string path = dir_ + "/rows.h5";
  h5::Session session;
  h5::Handle file = h5::create_file(path);
  h5::Handle m = h5::create_floats(file.get(), "latents", {4, 2});
  const std::vector<float> values(8, 1.0f);
  try {
    h5::write_rows(m.get(), 3, 2, values.data());
    FAIL() << "rows 3 to 5 of a 4-row dataset were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rows.h5:/latents: rows 3 to 5 lie outside the dataset"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(h5::write_rows(m.get(), -1, 1, values.data()), Error);
  EXPECT_THROW(h5::create_floats(file.get(), "scalar", {}), Error);
}

}  // namespace
}  // namespace elbo
