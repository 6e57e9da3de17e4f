// COPY text format: parsing lines into values and writing values back.
#include <gtest/gtest.h>

#include <string>

#include "cdc/copy_text.h"

namespace shardcast {
namespace {

using namespace std::string_literals;

Tuple Parse(std::string_view line) {
  Tuple t;
  Status st = ParseCopyLine(line, t);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return t;
}

std::string Row(const Tuple& t) {
  std::string out;
  AppendCopyRow(out, t);
  return out;
}

TEST(CdcCopyText, SplitsFieldsAndRecognisesNull) {
  Tuple t = Parse("1\tabc\t\\N\t\t\\\\N");
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[0].kind, Value::Kind::kText);
  EXPECT_EQ(t[0].text, "1");
  EXPECT_EQ(t[1].text, "abc");
  EXPECT_TRUE(t[2].is_null());
  EXPECT_EQ(t[3].kind, Value::Kind::kText);  // empty string, not NULL
  EXPECT_EQ(t[3].text, "");
  EXPECT_EQ(t[4].kind, Value::Kind::kText);  // the text "\N"
  EXPECT_EQ(t[4].text, "\\N");
}

TEST(CdcCopyText, EmptyLineIsOneEmptyField) {
  Tuple t = Parse("");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].kind, Value::Kind::kText);
  EXPECT_EQ(t[0].text, "");
  t = Parse("\t");
  ASSERT_EQ(t.size(), 2u);
}

TEST(CdcCopyText, ResolvesEveryEscape) {
  Tuple t = Parse("a\\tb\\nc\\rd\\\\e\\bf\\fg\\vh");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].text, "a\tb\nc\rd\\e\bf\fg\vh");
  // Octal takes up to three digits, hex up to two.
  t = Parse("\\101\\1012\\7x\\x41\\x4a2\\xfZ");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].text, "AA2\x07xAJ2\x0fZ"s);
  t = Parse("\\303\\251");  // UTF-8 bytes of "é"
  EXPECT_EQ(t[0].text, "\xc3\xa9");
}

TEST(CdcCopyText, ReusesTheTupleAndShrinksIt) {
  Tuple t;
  ASSERT_TRUE(ParseCopyLine("1\t2\t3", t).ok());
  ASSERT_EQ(t.size(), 3u);
  ASSERT_TRUE(ParseCopyLine("\\N\tx", t).ok());
  ASSERT_EQ(t.size(), 2u);
  EXPECT_TRUE(t[0].is_null());
  EXPECT_TRUE(t[0].text.empty());
  EXPECT_EQ(t[1].text, "x");
}

TEST(CdcCopyText, RejectsMalformedEscapesNamingTheColumn) {
  const char* bad[] = {"a\tb\\", "a\tb\\q", "x\t\\x", "\\xg", "\\0", "\\000", "\\400", "a\\Nb", "\\."};
  for (const char* line : bad) {
    Tuple t;
    Status st = ParseCopyLine(line, t);
    EXPECT_EQ(st.code(), Code::kCorruption) << line;
    EXPECT_NE(st.message().find("column"), std::string::npos) << st.message();
  }
  Tuple t;
  Status st = ParseCopyLine("ok\tfine\tbad\\q", t);
  EXPECT_NE(st.message().find("column 3"), std::string::npos) << st.message();
}

TEST(CdcCopyText, WritesWhatCopyWrites) {
  Tuple row{
      Value::Text("1"),           Value::Null(),      Value::Text("tab\there"), Value::Text("line\nbreak\r"),
      Value::Text("back\\slash"), Value::Text("\\N"), Value::Text(""),          Value::Text("\b\f\v")};
  EXPECT_EQ(Row(row), "1\t\\N\ttab\\there\tline\\nbreak\\r\tback\\\\slash\t\\\\N\t\t\\b\\f\\v\n");
  std::string field;
  AppendCopyField(field, Value{Value::Kind::kUnchanged, ""});
  EXPECT_EQ(field, "\\N");
  EXPECT_EQ(Row({}), "\n");
}

TEST(CdcCopyText, RoundTripsArbitraryText) {
  std::string every;
  for (int c = 1; c < 256; ++c) every += static_cast<char>(c);
  Tuple row{Value::Text(every),        Value::Null(),        Value::Text("\\N"),
            Value::Text("\\\\\t\t\n"), Value::Text("plain"), Value::Text("")};
  std::string line = Row(row);
  ASSERT_EQ(line.back(), '\n');
  line.pop_back();
  EXPECT_EQ(line.find('\n'), std::string::npos);
  Tuple back = Parse(line);
  ASSERT_EQ(back.size(), row.size());
  for (std::size_t i = 0; i < row.size(); ++i) {
    EXPECT_EQ(back[i].kind, row[i].kind) << i;
    EXPECT_EQ(back[i].text, row[i].text) << i;
  }
}

}  // namespace
}  // namespace shardcast
