// CRC-32 (zlib's polynomial) of a byte range: the checksum of shards and checkpoints.
#pragma once
#include <cstddef>
#include <cstdint>

namespace elbo {

uint32_t crc32_bytes(const void* data, size_t bytes, uint32_t crc = 0);

}  // namespace elbo
