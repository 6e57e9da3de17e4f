// Golden vectors for the shard-key hash (DESIGN.md "Sharding", version 1).
// These are the placement contract: if one fails, deployed rings would move
// keys. Do not "fix" them; bump kShardKeyHashVersion and plan a migration.
//
// How they were obtained: the canonical bytes below were written by hand from
// the definition (4-byte big-endian length, then the text; NULL = ffffffff),
// converted to binary with python3 bytes.fromhex and hashed with the
// `xxhsum -H3` command-line tool (Debian package xxhash 0.8.1), e.g.
//   python3 -c "import sys; sys.stdout.buffer.write(bytes.fromhex('000000023432'))" | xxhsum -H3
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sharding/shard_key.h"

namespace shardcast {
namespace {

using Key = std::vector<std::optional<std::string_view>>;

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xF];
  }
  return out;
}

std::string Canonical(const Key& key) {
  std::string out;
  for (const auto& v : key) AppendCanonical(out, v);
  return out;
}

struct Golden {
  const char* what;
  Key key;
  const char* canonical_hex;
  std::uint64_t xxh3;
};

const std::vector<Golden>& Goldens() {
  static const std::vector<Golden> kGoldens = {
      {"int 42", {"42"}, "000000023432", 0xab6767b922d92130ull},
      {"int -1", {"-1"}, "000000022d31", 0x5b4eb85d616fa4afull},
      {"text", {"hello world"}, "0000000b68656c6c6f20776f726c64", 0x5f1728ade64ee0b0ull},
      {"utf-8 text", {"caf\xc3\xa9"}, "00000005636166c3a9", 0x917c0e4dedbb7b9bull},
      {"NULL", {std::nullopt}, "ffffffff", 0xcd6b1c920d3f662cull},
      {"empty string", {""}, "00000000", 0x48b2c92616fc193dull},
      {"two columns", {"7", "acme"}, "00000001370000000461636d65", 0xa4ed62626401e71cull},
      {"NULL then empty", {std::nullopt, ""}, "ffffffff00000000", 0xf0229c562a278d89ull},
  };
  return kGoldens;
}

TEST(ShardKeyTest, VersionIsOne) {
  EXPECT_EQ(kShardKeyHashVersion, 1);
}

TEST(ShardKeyTest, CanonicalBytesMatchGoldenHex) {
  for (const auto& g : Goldens()) EXPECT_EQ(Hex(Canonical(g.key)), g.canonical_hex) << g.what;
}

TEST(ShardKeyTest, HashesMatchXxhsum) {
  for (const auto& g : Goldens()) {
    EXPECT_EQ(HashCanonical(Canonical(g.key)), g.xxh3) << g.what;
    EXPECT_EQ(HashShardKey(g.key), g.xxh3) << g.what;
  }
}

TEST(ShardKeyTest, EmptyInputIsXxh3OfNothing) {
  // `printf '' | xxhsum -H3`; also the published XXH3_64bits("") value.
  EXPECT_EQ(HashCanonical(""), 0x2d06800538d394c2ull);
  EXPECT_EQ(HashShardKey({}), 0x2d06800538d394c2ull);
}

TEST(ShardKeyTest, NullAndEmptyStringDiffer) {
  EXPECT_NE(HashShardKey({std::nullopt}), HashShardKey({""}));
  EXPECT_NE(Canonical({std::nullopt}), Canonical({""}));
}

TEST(ShardKeyTest, ColumnBoundariesAreUnambiguous) {
  // Without length prefixes ("ab","c") and ("a","bc") would collide.
  EXPECT_NE(HashShardKey({"ab", "c"}), HashShardKey({"a", "bc"}));
  EXPECT_NE(HashShardKey({"abc"}), HashShardKey({"ab", "c"}));
  EXPECT_NE(HashShardKey({"1", "2"}), HashShardKey({"2", "1"}));
}

TEST(ShardKeyTest, AppendKeepsExistingBytes) {
  std::string buf = "x";
  AppendCanonical(buf, std::string_view("ab"));
  EXPECT_EQ(Hex(buf),
            "78"
            "00000002"
            "6162");
}

TEST(ShardKeyTest, LengthIsBigEndianForLongValues) {
  const std::string v(0x0304, 'z');  // 772 bytes: both low bytes of the length are set
  std::string buf;
  AppendCanonical(buf, v);
  ASSERT_EQ(buf.size(), 4 + v.size());
  EXPECT_EQ(Hex(buf.substr(0, 4)), "00000304");
}

}  // namespace
}  // namespace shardcast
