// portcullis/detail/redis_hash.hpp — Redis Cluster key slots and script
// digests, computed on the client. Private to the Redis backend (tests use
// it too); implemented in src/redis.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::redis::detail {

/// The number of hash slots of a Redis Cluster.
inline constexpr unsigned slot_count = 16384;

/// CRC16/XMODEM (polynomial 0x1021, initial 0), the checksum Redis Cluster
/// hashes keys with: crc16("123456789") == 0x31C3.
std::uint16_t crc16(std::string_view bytes) noexcept;

/// The part of `key` that is hashed: the text between the first '{' and
/// the next '}' when that is not empty ("{user1}.a" hashes "user1"),
/// otherwise the whole key ("{}x" and "a{b" hash whole).
std::string_view hash_tag(std::string_view key) noexcept;

/// The cluster slot of `key`: crc16(hash_tag(key)) mod 16384.
unsigned hash_slot(std::string_view key) noexcept;

/// The lower-case hex SHA1 of `text`: what `SCRIPT LOAD` answers and what
/// `EVALSHA` takes.
std::string sha1_hex(std::string_view text);

}  // namespace portcullis::redis::detail
