// manifest.yaml of a shard set: reading (with validation of every field), writing.
// The shard files themselves are checked by open_shard_set, not here.
#pragma once
#include <string>

#include "elbo/data/shard_set.h"

namespace elbo::detail {

constexpr int kManifestVersion = 1;
constexpr const char* kManifestFormat = "elbo-shards";
constexpr const char* kManifestName = "manifest.yaml";

// Parses and validates a manifest; errors name the manifest, the key and its line.
ShardSetInfo read_manifest(const std::string& path);

// Writes info as a manifest to path (not atomically: callers write into a temp dir).
void write_manifest(const ShardSetInfo& info, const std::string& path);

// Absolute or manifest-relative path of a shard's file.
std::string shard_file_path(const ShardSetInfo& info, const ShardInfo& shard);

const char* pixel_type_name(PixelType t);

// A CRC32 as the manifest and the messages write it: "0x1a2b3c4d".
std::string crc_text(uint32_t crc);

}  // namespace elbo::detail
