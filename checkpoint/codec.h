// Byte layouts of the checkpoint store's keys and values. Integers are
// big-endian so RocksDB's bytewise order is numeric order. A value that does
// not decode is kCorruption naming the key, never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "checkpoint/store.h"
#include "common/lsn.h"
#include "common/status.h"

namespace shardcast::checkpoint_codec {

// progress: destination id -> 8-byte big-endian LSN.
std::string EncodeLsn(Lsn lsn);
StatusOr<Lsn> DecodeLsn(std::string_view value, std::string_view key);

// ring keys: 8-byte big-endian epoch.
std::string EncodeEpoch(std::uint64_t epoch);
StatusOr<std::uint64_t> DecodeEpoch(std::string_view key);

// ring values: version byte 1, 8-byte big-endian activation LSN, then the
// definition's bytes to the end.
inline constexpr std::uint8_t kRingRecordVersion = 1;
std::string EncodeRing(const CheckpointStore::RingRecord& record);
StatusOr<CheckpointStore::RingRecord> DecodeRing(std::string_view value, std::uint64_t epoch);

}  // namespace shardcast::checkpoint_codec
