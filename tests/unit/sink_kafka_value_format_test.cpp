// The Debezium value mapping (DESIGN.md "Kafka messages"), exact JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sink/kafka/murmur2.h"
#include "sink/kafka/value_format.h"

namespace shardcast {
namespace {

std::string J(std::uint32_t oid, std::string_view text, std::int32_t typmod = -1) {
  std::string out;
  AppendJsonText(out, oid, typmod, text);
  return out;
}

std::string S(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

TEST(ValueFormat, Integers) {
  EXPECT_EQ(J(pgtype::kInt2, "-32768"), "-32768");
  EXPECT_EQ(J(pgtype::kInt4, "42"), "42");
  EXPECT_EQ(J(pgtype::kInt8, "9223372036854775807"), "9223372036854775807");
  EXPECT_EQ(J(pgtype::kOid, "4294967295"), "4294967295");
  EXPECT_EQ(J(pgtype::kInt4, "0"), "0");
  // Not a number: kept as a string rather than emitting broken JSON.
  EXPECT_EQ(J(pgtype::kInt4, "12a"), "\"12a\"");
  EXPECT_EQ(J(pgtype::kInt4, ""), "\"\"");
}

TEST(ValueFormat, Floats) {
  EXPECT_EQ(J(pgtype::kFloat4, "1.1"), "1.1");
  EXPECT_EQ(J(pgtype::kFloat8, "-0.30000000000000004"), "-0.30000000000000004");
  EXPECT_EQ(J(pgtype::kFloat8, "1e+300"), "1e+300");
  EXPECT_EQ(J(pgtype::kFloat8, "1.5e-07"), "1.5e-07");
  EXPECT_EQ(J(pgtype::kFloat8, "-0"), "-0");
  EXPECT_EQ(J(pgtype::kFloat8, "NaN"), "\"NaN\"");
  EXPECT_EQ(J(pgtype::kFloat4, "Infinity"), "\"Infinity\"");
  EXPECT_EQ(J(pgtype::kFloat8, "-Infinity"), "\"-Infinity\"");
}

TEST(ValueFormat, NumericIsString) {
  EXPECT_EQ(J(pgtype::kNumeric, "12345.6789"), "\"12345.6789\"");
  EXPECT_EQ(J(pgtype::kNumeric, "NaN"), "\"NaN\"");
  EXPECT_EQ(J(pgtype::kNumeric, "-0.00"), "\"-0.00\"");
}

TEST(ValueFormat, Bool) {
  EXPECT_EQ(J(pgtype::kBool, "t"), "true");
  EXPECT_EQ(J(pgtype::kBool, "f"), "false");
  EXPECT_EQ(J(pgtype::kBool, "x"), "\"x\"");
}

TEST(ValueFormat, TextLikeAreStrings) {
  EXPECT_EQ(J(pgtype::kText, "hello"), "\"hello\"");
  EXPECT_EQ(J(pgtype::kVarchar, "a b"), "\"a b\"");
  EXPECT_EQ(J(pgtype::kBpchar, "ab  "), "\"ab  \"");
  EXPECT_EQ(J(pgtype::kName, "pg_class"), "\"pg_class\"");
  EXPECT_EQ(J(pgtype::kUuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
  EXPECT_EQ(J(99999, "happy"), "\"happy\"");  // an enum (user type OID)
  EXPECT_EQ(J(pgtype::kInterval, "1 year 2 mons 3 days 04:05:06.5"), "\"1 year 2 mons 3 days 04:05:06.5\"");
  EXPECT_EQ(J(pgtype::kTimetz, "10:11:12.5+02"), "\"10:11:12.5+02\"");
  EXPECT_EQ(J(790, "$1,000.00"), "\"$1,000.00\"");  // money: PostgreSQL's text
}

TEST(ValueFormat, JsonIsStringHoldingJson) {
  EXPECT_EQ(J(pgtype::kJsonb, R"({"a": [1, "x"]})"), R"("{\"a\": [1, \"x\"]}")");
  EXPECT_EQ(J(pgtype::kJson, "null"), R"("null")");
}

TEST(ValueFormat, ByteaBase64) {
  EXPECT_EQ(J(pgtype::kBytea, "\\x"), "\"\"");
  EXPECT_EQ(J(pgtype::kBytea, "\\x0a"), "\"Cg==\"");
  EXPECT_EQ(J(pgtype::kBytea, "\\x0a0b"), "\"Cgs=\"");
  EXPECT_EQ(J(pgtype::kBytea, "\\x666f6f626172"), "\"Zm9vYmFy\"");  // "foobar"
  EXPECT_EQ(J(pgtype::kBytea, "\\xDEADBEEF"), "\"3q2+7w==\"");
  EXPECT_EQ(J(pgtype::kBytea, "\\xfffe"), "\"//4=\"");
  EXPECT_EQ(J(pgtype::kBytea, "\\x0g"), "\"\\\\x0g\"");  // not hex: the text
}

TEST(ValueFormat, Date) {
  EXPECT_EQ(J(pgtype::kDate, "1970-01-01"), "0");
  EXPECT_EQ(J(pgtype::kDate, "1970-01-02"), "1");
  EXPECT_EQ(J(pgtype::kDate, "1969-12-31"), "-1");
  EXPECT_EQ(J(pgtype::kDate, "2000-03-01"), "11017");
  EXPECT_EQ(J(pgtype::kDate, "2026-11-22"), "20779");
  EXPECT_EQ(J(pgtype::kDate, "0001-01-01"), "-719162");
  EXPECT_EQ(J(pgtype::kDate, "0044-03-15 BC"), "\"0044-03-15 BC\"");
  EXPECT_EQ(J(pgtype::kDate, "infinity"), "\"infinity\"");
  EXPECT_EQ(J(pgtype::kDate, "-infinity"), "\"-infinity\"");
}

TEST(ValueFormat, Timestamp) {
  EXPECT_EQ(J(pgtype::kTimestamp, "1970-01-01 00:00:00"), "0");
  EXPECT_EQ(J(pgtype::kTimestamp, "2026-11-22 00:34:03.123"), "1795307643123000");
  EXPECT_EQ(J(pgtype::kTimestamp, "2026-11-22 00:34:03.123456"), "1795307643123456");
  EXPECT_EQ(J(pgtype::kTimestamp, "1969-12-31 23:59:59.999999"), "-1");
  // timestamp(3): Debezium's Timestamp, milliseconds.
  EXPECT_EQ(J(pgtype::kTimestamp, "2026-11-22 00:34:03.123", 3), "1795307643123");
  EXPECT_EQ(J(pgtype::kTimestamp, "2026-11-22 00:34:03", 0), "1795307643000");
  EXPECT_EQ(J(pgtype::kTimestamp, "2026-11-22 00:34:03.5", 6), "1795307643500000");
  EXPECT_EQ(J(pgtype::kTimestamp, "infinity"), "\"infinity\"");
  EXPECT_EQ(J(pgtype::kTimestamp, "0044-03-15 10:00:00 BC"), "\"0044-03-15 10:00:00 BC\"");
}

TEST(ValueFormat, Timestamptz) {
  EXPECT_EQ(J(pgtype::kTimestamptz, "2026-11-22 00:34:03.123+00"), "\"2026-11-22T00:34:03.123Z\"");
  EXPECT_EQ(J(pgtype::kTimestamptz, "2026-11-22 00:34:03+00"), "\"2026-11-22T00:34:03Z\"");
  EXPECT_EQ(J(pgtype::kTimestamptz, "2026-11-22 00:34:03.120000+00"), "\"2026-11-22T00:34:03.12Z\"");
  EXPECT_EQ(J(pgtype::kTimestamptz, "2026-11-22 00:34:03.000000+00"), "\"2026-11-22T00:34:03Z\"");
  // Offsets are converted to UTC, across a day and a year boundary.
  EXPECT_EQ(J(pgtype::kTimestamptz, "2026-01-01 01:30:00.5+02"), "\"2025-12-31T23:30:00.5Z\"");
  EXPECT_EQ(J(pgtype::kTimestamptz, "2026-02-28 20:00:00-05:30"), "\"2026-03-01T01:30:00Z\"");
  EXPECT_EQ(J(pgtype::kTimestamptz, "2024-02-28 23:00:00-01"), "\"2024-02-29T00:00:00Z\"");
  EXPECT_EQ(J(pgtype::kTimestamptz, "1901-12-13 20:45:52+00:09:21"), "\"1901-12-13T20:36:31Z\"");
  EXPECT_EQ(J(pgtype::kTimestamptz, "infinity"), "\"infinity\"");
  EXPECT_EQ(J(pgtype::kTimestamptz, "2026-11-22 00:34:03"), "\"2026-11-22 00:34:03\"");  // no offset
}

TEST(ValueFormat, Time) {
  EXPECT_EQ(J(pgtype::kTime, "00:00:00"), "0");
  EXPECT_EQ(J(pgtype::kTime, "10:11:12.5"), "36672500000");
  EXPECT_EQ(J(pgtype::kTime, "23:59:59.999999"), "86399999999");
  EXPECT_EQ(J(pgtype::kTime, "24:00:00"), "86400000000");
  EXPECT_EQ(J(pgtype::kTime, "10:11:12.5", 3), "36672500");  // time(3): milliseconds
  EXPECT_EQ(J(pgtype::kTime, "25:00:00"), "\"25:00:00\"");
}

TEST(ValueFormat, Arrays) {
  EXPECT_EQ(J(1007, "{1,2,-3}"), "[1,2,-3]");
  EXPECT_EQ(J(1005, "{}"), "[]");
  EXPECT_EQ(J(1016, "{1,NULL,3}"), "[1,null,3]");
  EXPECT_EQ(J(1009, R"({a,"b c",NULL,"NULL","q\"uo\\te",""})"), R"(["a","b c",null,"NULL","q\"uo\\te",""])");
  EXPECT_EQ(J(1015, R"({"x,y","{z}"})"), R"(["x,y","{z}"])");
  EXPECT_EQ(J(1000, "{t,f,NULL}"), "[true,false,null]");
  EXPECT_EQ(J(1231, "{1.5,NaN}"), R"(["1.5","NaN"])");
  EXPECT_EQ(J(1021, "{1.5,NaN,-Infinity}"), R"([1.5,"NaN","-Infinity"])");
  EXPECT_EQ(J(1022, "{0.1}"), "[0.1]");
  EXPECT_EQ(J(2951, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"), R"(["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"])");
  EXPECT_EQ(J(1182, "{1970-01-02,NULL}"), "[1,null]");
  EXPECT_EQ(J(1185, R"({"2026-11-22 00:34:03.1+00"})"), R"(["2026-11-22T00:34:03.1Z"])");
  EXPECT_EQ(J(1001, R"({"\\x0a0b"})"), R"(["Cgs="])");
  // Not 1-D or malformed: PostgreSQL's text as a string.
  EXPECT_EQ(J(1007, "{{1,2},{3,4}}"), R"("{{1,2},{3,4}}")");
  EXPECT_EQ(J(1007, "[0:1]={1,2}"), R"("[0:1]={1,2}")");
  EXPECT_EQ(J(1009, R"({"unterminated})"), R"("{\"unterminated}")");
  EXPECT_EQ(J(1007, "{1,,2}"), R"("{1,,2}")");
}

TEST(ValueFormat, NullAndUnchangedToast) {
  std::string out;
  AppendJsonValue(out, pgtype::kText, -1, Value::Null());
  out.push_back(' ');
  AppendJsonValue(out, pgtype::kText, -1, Value{Value::Kind::kUnchanged, ""});
  out.push_back(' ');
  AppendJsonValue(out, pgtype::kInt4, -1, Value::Text("7"));
  EXPECT_EQ(out, "null \"__debezium_unavailable_value\" 7");
}

TEST(JsonString, Escapes) {
  EXPECT_EQ(S(""), "\"\"");
  EXPECT_EQ(S("plain"), "\"plain\"");
  EXPECT_EQ(S("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(S("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(S(std::string_view("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001F\x7f\"");
  EXPECT_EQ(S("héllo €😀"), "\"héllo €😀\"");  // UTF-8 verbatim
  EXPECT_EQ(S("/"), "\"/\"");
}

TEST(JsonString, RoundTripsThroughAParser) {
  std::string all;
  for (int c = 1; c < 256; ++c) all.push_back(static_cast<char>(c < 128 ? c : 'x'));
  all += "ünï©ødé";
  const auto parsed = nlohmann::json::parse(S(all));
  EXPECT_EQ(parsed.get<std::string>(), all);
}

// Kafka's UtilsTest.testMurmur2 vectors (Java client), as quoted by several
// independent ports.
TEST(Murmur2, MatchesJavaClient) {
  EXPECT_EQ(KafkaMurmur2("21"), -973932308);
  EXPECT_EQ(KafkaMurmur2("foobar"), -790332482);
  EXPECT_EQ(KafkaMurmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(KafkaMurmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(KafkaMurmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(KafkaMurmur2("abc"), 479470107);
  EXPECT_EQ(KafkaMurmur2(""), 275646681);
}

TEST(Murmur2, PartitionIsPositiveModulo) {
  // toPositive(-973932308) = -973932308 & 0x7fffffff = 1173551340.
  EXPECT_EQ(KafkaPartitionFor("21", 7), 1173551340 % 7);
  for (int n = 1; n < 20; ++n) {
    const auto p = KafkaPartitionFor("foobar", n);
    EXPECT_GE(p, 0);
    EXPECT_LT(p, n);
  }
}

}  // namespace
}  // namespace shardcast
