// convert_to_shards: IDX / npy inputs -> a shard set.
//
// Inputs are opened and checked before anything is created. Shards and manifest are
// written into a fresh temp dir inside out_dir and moved into place only when all of
// them are complete (manifest last), so a failed or interrupted convert never leaves
// a manifest that points at half-written shards. Memory use is one slab of samples.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "elbo/data/shard_set.h"
#include "elbo/error.h"
#include "input_file.h"
#include "manifest.h"
#include "shard_file.h"

namespace elbo {
namespace {

namespace fs = std::filesystem;

// Samples are written in slabs of about this many bytes (rounded to whole chunks).
constexpr int64_t kSlabBytes = 4 << 20;

std::string join(const std::vector<std::string>& files) {
  std::string out;
  for (const auto& f : files) out += (out.empty() ? "" : ",") + f;
  return out;
}

// Several input files read as one stream of samples; each file is checked for
// trailing garbage when the stream moves past it.
template <typename Input, typename T>
class ConcatReader {
 public:
  ConcatReader(std::vector<std::unique_ptr<Input>>& inputs, int64_t stride)
      : inputs_(inputs), stride_(stride) {}

  void read(int64_t n, T* out) {
    while (n > 0) {
      Input& in = *inputs_[current_];
      const int64_t take = std::min(n, in.count() - used_);
      if (take == 0) {
        advance();
        continue;
      }
      in.read(take, out);
      out += take * stride_;
      used_ += take;
      n -= take;
    }
  }
  void finish() {
    while (current_ < inputs_.size()) advance();
  }

 private:
  void advance() {
    inputs_[current_]->finish();
    ++current_;
    used_ = 0;
  }
  std::vector<std::unique_ptr<Input>>& inputs_;
  int64_t stride_;
  size_t current_ = 0;
  int64_t used_ = 0;
};

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: the data files themselves were fsync'ed
  ::fsync(fd);
  ::close(fd);
}

std::string shard_name(int index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard_%05d.h5", index);
  return buf;
}

// Widens the shard's recorded label range by n more labels (the manifest keeps it, so that
// a conditional model's model.classes is checked before training).
void record_label_range(const int32_t* labels, int64_t n, ShardInfo& shard) {
  for (int64_t i = 0; i < n; ++i) {
    const int32_t label = labels[i];
    shard.label_min = shard.has_label_range ? std::min(shard.label_min, label) : label;
    shard.label_max = shard.has_label_range ? std::max(shard.label_max, label) : label;
    shard.has_label_range = true;
  }
}

// Moves the finished set from tmp into out_dir. With an old set there (overwrite),
// its manifest goes first, so no moment has a manifest over mismatched shards.
void install(const std::string& tmp, const std::string& out_dir, const ShardSetInfo& set) {
  const fs::path manifest = fs::path(out_dir) / detail::kManifestName;
  std::set<std::string> old_files;
  if (fs::exists(manifest)) {
    try {
      for (const ShardInfo& s : detail::read_manifest(manifest.string()).shards) old_files.insert(s.file);
    } catch (const Error&) {
      // An unreadable old manifest: its shards cannot be identified, leave them.
    }
    fs::remove(manifest);
  }
  for (const ShardInfo& s : set.shards) {
    fs::rename(fs::path(tmp) / s.file, fs::path(out_dir) / s.file);
    old_files.erase(s.file);
  }
  for (const std::string& f : old_files) {
    std::error_code ec;
    fs::remove(fs::path(out_dir) / f, ec);
  }
  fs::rename(fs::path(tmp) / detail::kManifestName, manifest);
  fsync_dir(out_dir);
}

}  // namespace

ShardSetInfo convert_to_shards(const ConvertOptions& options) {
  ELBO_CHECK(!options.image_files.empty(), "data convert: no image files given (--images)");
  ELBO_CHECK(!options.out_dir.empty(), "data convert: no output directory given (--out)");
  ELBO_CHECK(options.shards >= 1, "data convert: --shards must be >= 1, got " << options.shards);
  ELBO_CHECK(options.chunk_samples >= 1, "data convert: --chunk must be >= 1, got " << options.chunk_samples);

  // Open every input first: a bad file fails before anything is created.
  std::vector<std::unique_ptr<detail::ImageInput>> images;
  int64_t total = 0;
  for (const std::string& f : options.image_files) {
    images.push_back(std::make_unique<detail::ImageInput>(f));
    const detail::ImageInput& in = *images.back();
    const detail::ImageInput& first = *images.front();
    ELBO_CHECK(in.channels() == first.channels() && in.height() == first.height() &&
                   in.width() == first.width() && in.dtype() == first.dtype(),
               f << ": images are " << in.channels() << "x" << in.height() << "x" << in.width() << " "
                 << detail::pixel_type_name(in.dtype()) << " but " << first.path() << " has "
                 << first.channels() << "x" << first.height() << "x" << first.width() << " "
                 << detail::pixel_type_name(first.dtype()) << "; all image files must match");
    total += in.count();
  }
  std::vector<std::unique_ptr<detail::LabelInput>> labels;
  int64_t total_labels = 0;
  for (const std::string& f : options.label_files) {
    labels.push_back(std::make_unique<detail::LabelInput>(f));
    total_labels += labels.back()->count();
  }
  const bool has_labels = !labels.empty();
  ELBO_CHECK(!has_labels || total_labels == total,
             "data convert: label files " << join(options.label_files) << " hold " << total_labels
                                          << " labels but image files " << join(options.image_files)
                                          << " hold " << total << " samples");
  ELBO_CHECK(options.shards <= total, "data convert: --shards " << options.shards << " is more than the "
                                                               << total << " samples in "
                                                               << join(options.image_files));

  const std::string out_dir = options.out_dir;
  const fs::path manifest = fs::path(out_dir) / detail::kManifestName;
  ELBO_CHECK(options.overwrite || !fs::exists(manifest),
             manifest.string() << " already exists; refusing to replace a shard set (use --overwrite)");
  ELBO_CHECK(!fs::exists(out_dir) || fs::is_directory(out_dir), out_dir << ": exists and is not a directory");

  const bool created_out = !fs::exists(out_dir);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  ELBO_CHECK(!ec, out_dir << ": cannot create directory: " << ec.message());
  std::string tmp_template = (fs::path(out_dir) / ".convert-tmp-XXXXXX").string();
  ELBO_CHECK(mkdtemp(&tmp_template[0]) != nullptr,
             out_dir << ": cannot create a temporary directory: " << std::strerror(errno));
  const std::string tmp = tmp_template;

  ShardSetInfo set;
  set.manifest_path = manifest.string();
  set.dir = out_dir;
  set.count = total;
  set.channels = images.front()->channels();
  set.height = images.front()->height();
  set.width = images.front()->width();
  set.dtype = images.front()->dtype();
  set.has_labels = has_labels;

  try {
    const int64_t bps = set.bytes_per_sample();
    ConcatReader<detail::ImageInput, unsigned char> image_stream(images, bps);
    ConcatReader<detail::LabelInput, int32_t> label_stream(labels, 1);
    int64_t slab = std::max<int64_t>(1, kSlabBytes / bps / options.chunk_samples) * options.chunk_samples;
    slab = std::min(slab, total / options.shards + 1);
    std::vector<unsigned char> image_buf(static_cast<size_t>(slab * bps));
    std::vector<int32_t> label_buf(has_labels ? static_cast<size_t>(slab) : 0);

    int64_t first = 0;
    for (int s = 0; s < options.shards; ++s) {
      ShardInfo shard;
      shard.file = shard_name(s);
      shard.first = first;
      shard.count = total / options.shards + (s < total % options.shards ? 1 : 0);
      detail::ShardWriter writer((fs::path(tmp) / shard.file).string(), shard.count, set.channels, set.height,
                                 set.width, set.dtype, has_labels, options.chunk_samples);
      for (int64_t done = 0; done < shard.count;) {
        const int64_t n = std::min(slab, shard.count - done);
        image_stream.read(n, image_buf.data());
        if (has_labels) {
          label_stream.read(n, label_buf.data());
          record_label_range(label_buf.data(), n, shard);
        }
        writer.append(image_buf.data(), has_labels ? label_buf.data() : nullptr, n);
        done += n;
        if (options.on_progress) options.on_progress(first + done, total);
      }
      shard.crc32 = writer.finish();
      seal_shard_file((fs::path(tmp) / shard.file).string(), shard);
      set.shards.push_back(shard);
      first += shard.count;
    }
    image_stream.finish();
    label_stream.finish();
    detail::write_manifest(set, (fs::path(tmp) / detail::kManifestName).string());
    install(tmp, out_dir, set);
  } catch (const std::exception& e) {
    fs::remove_all(tmp, ec);
    if (created_out) fs::remove(out_dir, ec);  // only succeeds when empty
    if (dynamic_cast<const Error*>(&e) != nullptr) throw;
    ELBO_FAIL(out_dir << ": writing the shard set failed: " << e.what());
  }
  fs::remove_all(tmp, ec);
  return open_shard_set(set.manifest_path);
}

}  // namespace elbo
