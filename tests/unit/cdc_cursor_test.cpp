#include <gtest/gtest.h>

#include <string>

#include "cdc/cursor.h"

namespace shardcast {
namespace {

using namespace std::string_literals;

TEST(CdcCursor, ReadsBigEndianIntegers) {
  std::string data =
      "\x01\xFF\xFE\x80\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01\x02\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF"s;
  Cursor c(data, "Test");
  std::uint8_t u8 = 0;
  std::int16_t i16 = 0;
  std::int32_t i32 = 0;
  std::int64_t i64 = 0;
  std::uint64_t u64 = 0;
  ASSERT_TRUE(c.ReadU8(u8).ok());
  EXPECT_EQ(u8, 1);
  ASSERT_TRUE(c.ReadI16(i16).ok());
  EXPECT_EQ(i16, -2);
  ASSERT_TRUE(c.ReadI32(i32).ok());
  EXPECT_EQ(i32, static_cast<std::int32_t>(0x80000001u));
  ASSERT_TRUE(c.ReadI64(i64).ok());
  EXPECT_EQ(i64, 0x102);
  ASSERT_TRUE(c.ReadU64(u64).ok());
  EXPECT_EQ(u64, ~0ULL);
  EXPECT_TRUE(c.at_end());
  EXPECT_EQ(c.offset(), data.size());
}

TEST(CdcCursor, OverrunFailsWithNameAndOffsetAndDoesNotAdvance) {
  std::string data = "\x00\x01\x02"s;
  Cursor c(data, "Update");
  std::uint8_t b = 0;
  ASSERT_TRUE(c.ReadU8(b).ok());
  std::int32_t v = 0;
  Status s = c.ReadI32(v);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("Update"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("offset 1"), std::string::npos) << s.message();
  EXPECT_EQ(c.offset(), 1u);
  std::int16_t i16 = 0;
  EXPECT_TRUE(c.ReadI16(i16).ok());
  EXPECT_EQ(i16, 0x0102);
  EXPECT_FALSE(c.ReadU8(b).ok());
  std::int64_t i64 = 0;
  EXPECT_FALSE(c.ReadI64(i64).ok());
}

TEST(CdcCursor, EmptyInputFailsEveryRead) {
  Cursor c(std::string_view(), "Begin");
  std::uint8_t u8;
  std::int16_t i16;
  std::int32_t i32;
  std::int64_t i64;
  std::string_view sv;
  EXPECT_FALSE(c.ReadU8(u8).ok());
  EXPECT_FALSE(c.ReadI16(i16).ok());
  EXPECT_FALSE(c.ReadI32(i32).ok());
  EXPECT_FALSE(c.ReadI64(i64).ok());
  EXPECT_FALSE(c.ReadCString(sv).ok());
  EXPECT_FALSE(c.ReadBytes(1, sv).ok());
  EXPECT_TRUE(c.ReadBytes(0, sv).ok());
  EXPECT_TRUE(sv.empty());
}

TEST(CdcCursor, CStringNeedsItsTerminator) {
  std::string data = "public\0t_x"s;
  Cursor c(data, "Relation");
  std::string_view sv;
  ASSERT_TRUE(c.ReadCString(sv).ok());
  EXPECT_EQ(sv, "public");
  EXPECT_EQ(c.offset(), 7u);
  Status s = c.ReadCString(sv);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("Relation message at offset 7"), std::string::npos) << s.message();
  EXPECT_EQ(c.offset(), 7u);
}

TEST(CdcCursor, EmptyCStringAndBytes) {
  std::string data = "\0abc"s;
  Cursor c(data, "Type");
  std::string_view sv = "x";
  ASSERT_TRUE(c.ReadCString(sv).ok());
  EXPECT_EQ(sv, "");
  ASSERT_TRUE(c.ReadBytes(3, sv).ok());
  EXPECT_EQ(sv, "abc");
  EXPECT_FALSE(c.ReadBytes(1, sv).ok());
  std::string huge = "ab";
  Cursor c2(huge, "Insert");
  EXPECT_FALSE(c2.ReadBytes(static_cast<std::size_t>(-1), sv).ok());
}

TEST(CdcCursor, ErrorHelperNamesMessage) {
  Cursor c("abc", "Truncate");
  std::string_view sv;
  ASSERT_TRUE(c.ReadBytes(2, sv).ok());
  Status s = c.Error("bad");
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "Truncate message at offset 2: bad");
}

}  // namespace
}  // namespace shardcast
