#include "manifest.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "elbo/error.h"

namespace elbo::detail {
namespace {

namespace fs = std::filesystem;

// Required key of a map node; the error says where the map is.
YAML::Node required(const YAML::Node& map, const std::string& key, const std::string& path,
                    const std::string& where) {
  const YAML::Node value = map[key];
  ELBO_CHECK(value.IsDefined() && !value.IsNull(),
             path << ": missing key '" << key << "'" << where << " (line " << map.Mark().line + 1 << ")");
  return value;
}

template <typename T>
T scalar(const YAML::Node& map, const std::string& key, const std::string& path,
         const std::string& where, const char* expected) {
  const YAML::Node value = required(map, key, path, where);
  try {
    ELBO_CHECK(value.IsScalar(), "");
    return value.as<T>();
  } catch (const std::exception&) {
    std::ostringstream os;
    os << path << ": key '" << key << "'" << where << " (line " << value.Mark().line + 1
       << "): expected " << expected;
    if (value.IsScalar()) os << ", got '" << value.Scalar() << "'";
    throw Error(os.str());
  }
}

uint32_t parse_crc(const std::string& text, const std::string& path, const std::string& where, int line) {
  std::string hex = text;
  if (hex.rfind("0x", 0) == 0 || hex.rfind("0X", 0) == 0) hex = hex.substr(2);
  bool ok = !hex.empty() && hex.size() <= 8;
  for (char ch : hex) ok = ok && std::isxdigit(static_cast<unsigned char>(ch));
  ELBO_CHECK(ok, path << ": key 'crc32'" << where << " (line " << line
                      << "): expected 8 hex digits like 0x1a2b3c4d, got '" << text << "'");
  return static_cast<uint32_t>(std::stoul(hex, nullptr, 16));
}

}  // namespace

std::string crc_text(uint32_t crc) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", crc);
  return buf;
}

const char* pixel_type_name(PixelType t) { return t == PixelType::kUInt8 ? "uint8" : "float32"; }

std::string shard_file_path(const ShardSetInfo& info, const ShardInfo& shard) {
  return (fs::path(info.dir) / shard.file).string();
}

ShardSetInfo read_manifest(const std::string& path) {
  ELBO_CHECK(fs::exists(path), path << ": shard set manifest does not exist");
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    ELBO_FAIL(path << ": not valid YAML: " << e.what());
  }
  ELBO_CHECK(root.IsMap(), path << ": a shard set manifest must be a YAML map (run `elbo data convert` to make one)");

  const std::string format = scalar<std::string>(root, "format", path, "", "a string");
  ELBO_CHECK(format == kManifestFormat,
             path << ": key 'format' is '" << format << "', expected '" << kManifestFormat << "'");
  const int version = scalar<int>(root, "version", path, "", "an integer");
  ELBO_CHECK(version == kManifestVersion, path << ": manifest format version " << version
                                               << " is not supported (this elbo reads version "
                                               << kManifestVersion << ")");

  ShardSetInfo info;
  info.manifest_path = path;
  const fs::path parent = fs::path(path).parent_path();
  info.dir = parent.empty() ? "." : parent.string();
  info.count = scalar<int64_t>(root, "count", path, "", "an integer");
  ELBO_CHECK(info.count > 0, path << ": key 'count' must be > 0, got " << info.count);
  info.channels = scalar<int>(root, "channels", path, "", "an integer");
  info.height = scalar<int>(root, "height", path, "", "an integer");
  info.width = scalar<int>(root, "width", path, "", "an integer");
  ELBO_CHECK(info.channels > 0 && info.height > 0 && info.width > 0,
             path << ": image shape " << info.channels << "x" << info.height << "x" << info.width
                  << " must be positive");
  const std::string dtype = scalar<std::string>(root, "dtype", path, "", "uint8 or float32");
  ELBO_CHECK(dtype == "uint8" || dtype == "float32",
             path << ": key 'dtype' is '" << dtype << "', expected uint8 or float32");
  info.dtype = dtype == "uint8" ? PixelType::kUInt8 : PixelType::kFloat32;
  info.has_labels = scalar<bool>(root, "has_labels", path, "", "true or false");

  const YAML::Node shards = required(root, "shards", path, "");
  ELBO_CHECK(shards.IsSequence() && shards.size() > 0,
             path << ": key 'shards' (line " << shards.Mark().line + 1 << ") must be a non-empty list");
  int64_t next_first = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    const YAML::Node s = shards[i];
    const std::string where = " of shard " + std::to_string(i);
    ELBO_CHECK(s.IsMap(), path << ": shard " << i << " (line " << s.Mark().line + 1 << ") must be a map");
    ShardInfo shard;
    shard.file = scalar<std::string>(s, "file", path, where, "a file name");
    const fs::path rel(shard.file);
    bool escapes = rel.is_absolute() || shard.file.empty();
    for (const auto& part : rel) escapes = escapes || part == "..";
    ELBO_CHECK(!escapes, path << ": shard " << i << " file '" << shard.file
                              << "' must be a path relative to the manifest's directory");
    shard.count = scalar<int64_t>(s, "count", path, where, "an integer");
    ELBO_CHECK(shard.count > 0, path << ": shard " << i << " (" << shard.file << ") has count "
                                     << shard.count << ", expected > 0");
    shard.first = scalar<int64_t>(s, "first", path, where, "an integer");
    ELBO_CHECK(shard.first == next_first,
               path << ": shard " << i << " (" << shard.file << ") has first " << shard.first
                    << ", expected " << next_first << " (the sum of the previous shards' counts)");
    shard.crc32 = parse_crc(scalar<std::string>(s, "crc32", path, where, "a hex string"), path, where,
                            s.Mark().line + 1);
    if (s["file_bytes"] || s["file_crc32"]) {  // optional: manifests before the file seal lack them
      shard.file_bytes = scalar<int64_t>(s, "file_bytes", path, where, "an integer");
      ELBO_CHECK(shard.file_bytes > 0, path << ": shard " << i << " (" << shard.file << ") has file_bytes "
                                            << shard.file_bytes << ", expected > 0");
      shard.file_crc32 = parse_crc(scalar<std::string>(s, "file_crc32", path, where, "a hex string"), path, where,
                                   s.Mark().line + 1);
    }
    if (s["label_min"] || s["label_max"]) {  // optional: manifests before the label range lack them
      ELBO_CHECK(info.has_labels, path << ": shard " << i << " (" << shard.file
                                       << ") has a label range but has_labels is false");
      shard.label_min = scalar<int32_t>(s, "label_min", path, where, "an integer");
      shard.label_max = scalar<int32_t>(s, "label_max", path, where, "an integer");
      ELBO_CHECK(shard.label_min <= shard.label_max, path << ": shard " << i << " (" << shard.file << ") has label_min "
                                                          << shard.label_min << " above label_max " << shard.label_max);
      shard.has_label_range = true;
    }
    next_first += shard.count;
    info.shards.push_back(shard);
  }
  ELBO_CHECK(next_first == info.count, path << ": key 'count' says " << info.count
                                            << " samples but the shards hold " << next_first);
  return info;
}

void write_manifest(const ShardSetInfo& info, const std::string& path) {
  YAML::Emitter out;
  out << YAML::Comment("elbo shard set, written by `elbo data convert`; see docs/data.md");
  out << YAML::BeginMap;
  out << YAML::Key << "format" << YAML::Value << kManifestFormat;
  out << YAML::Key << "version" << YAML::Value << kManifestVersion;
  out << YAML::Key << "count" << YAML::Value << info.count;
  out << YAML::Key << "channels" << YAML::Value << info.channels;
  out << YAML::Key << "height" << YAML::Value << info.height;
  out << YAML::Key << "width" << YAML::Value << info.width;
  out << YAML::Key << "dtype" << YAML::Value << pixel_type_name(info.dtype);
  out << YAML::Key << "has_labels" << YAML::Value << info.has_labels;
  out << YAML::Key << "shards" << YAML::Value << YAML::BeginSeq;
  for (const ShardInfo& s : info.shards) {
    out << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "file" << YAML::Value << s.file;
    out << YAML::Key << "count" << YAML::Value << s.count;
    out << YAML::Key << "first" << YAML::Value << s.first;
    out << YAML::Key << "crc32" << YAML::Value << YAML::DoubleQuoted << crc_text(s.crc32);
    if (s.file_bytes > 0) {
      out << YAML::Key << "file_bytes" << YAML::Value << s.file_bytes;
      out << YAML::Key << "file_crc32" << YAML::Value << YAML::DoubleQuoted << crc_text(s.file_crc32);
    }
    if (s.has_label_range) {
      out << YAML::Key << "label_min" << YAML::Value << s.label_min;
      out << YAML::Key << "label_max" << YAML::Value << s.label_max;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  ELBO_CHECK(out.good(), path << ": cannot format manifest: " << out.GetLastError());
  std::ofstream f(path, std::ios::trunc);
  ELBO_CHECK(f.is_open(), path << ": cannot create");
  f << out.c_str() << "\n";
  f.flush();
  ELBO_CHECK(f.good(), path << ": write failed");
}

}  // namespace elbo::detail
