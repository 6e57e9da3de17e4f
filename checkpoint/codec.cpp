#include "checkpoint/codec.h"

namespace shardcast::checkpoint_codec {
namespace {

void PutU64(std::string* out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

// Caller checks that 8 bytes are there.
std::uint64_t GetU64(std::string_view in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(in[static_cast<std::size_t>(i)]);
  return v;
}

}  // namespace

std::string EncodeLsn(Lsn lsn) {
  std::string out;
  PutU64(&out, lsn);
  return out;
}

StatusOr<Lsn> DecodeLsn(std::string_view value, std::string_view key) {
  if (value.size() != 8) {
    return Corruption("checkpoint progress of '" + std::string(key) + "' is " + std::to_string(value.size()) +
                      " bytes, not an 8-byte LSN");
  }
  return GetU64(value);
}

std::string EncodeEpoch(std::uint64_t epoch) {
  return EncodeLsn(epoch);
}

StatusOr<std::uint64_t> DecodeEpoch(std::string_view key) {
  if (key.size() != 8) {
    return Corruption("checkpoint ring key of " + std::to_string(key.size()) +
                      " bytes is not an 8-byte epoch");
  }
  return GetU64(key);
}

std::string EncodeRing(const CheckpointStore::RingRecord& record) {
  std::string out;
  out.reserve(9 + record.definition.size());
  out.push_back(static_cast<char>(kRingRecordVersion));
  PutU64(&out, record.activation_lsn);
  out += record.definition;
  return out;
}

StatusOr<CheckpointStore::RingRecord> DecodeRing(std::string_view value, std::uint64_t epoch) {
  std::string where = "checkpoint ring epoch " + std::to_string(epoch);
  if (value.empty()) return Corruption(where + " has an empty record");
  auto version = static_cast<std::uint8_t>(value[0]);
  if (version != kRingRecordVersion) {
    return Corruption(where + " has record version " + std::to_string(version) + " (this build reads " +
                      std::to_string(kRingRecordVersion) + ")");
  }
  if (value.size() < 9)
    return Corruption(where + " is truncated (" + std::to_string(value.size()) + " bytes)");
  CheckpointStore::RingRecord record;
  record.activation_lsn = GetU64(value.substr(1, 8));
  record.definition = std::string(value.substr(9));
  return record;
}

}  // namespace shardcast::checkpoint_codec
