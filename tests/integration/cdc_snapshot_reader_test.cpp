// SnapshotReader and ReplicationStream::CreateSlotExported against a real
// PostgreSQL started by tests/harness.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "cdc/copy_text.h"
#include "cdc/replication_stream.h"
#include "cdc/snapshot_reader.h"
#include "tests/harness/pg_server.h"

namespace shardcast {
namespace {

using testing::PgServer;
using namespace std::chrono_literals;

// Composite key whose text part needs quoting, and values whose text forms
// depend on the pinned settings or need COPY escapes.
constexpr const char* kSchema =
    "CREATE TABLE mixed (region text, id int8, amount numeric(12,2), note text, doc jsonb, raw bytea,"
    " at timestamptz, gone int, twice int8 GENERATED ALWAYS AS (id * 2) STORED, PRIMARY KEY (region, id));"
    "ALTER TABLE mixed DROP COLUMN gone;"
    "CREATE TABLE nokey (a int);"
    "CREATE TABLE empty (k int PRIMARY KEY, v text);"
    "CREATE TABLE full_ident (k int PRIMARY KEY, v text); ALTER TABLE full_ident REPLICA IDENTITY FULL;";

// 1000 rows over five regions (one with a quote, one with a tab), plus odd values.
constexpr const char* kRows =
    "INSERT INTO mixed (region, id, amount, note, doc, raw, at)"
    " SELECT (ARRAY['eu', 'us', 'o''neil', E'a\\tb', 'Zed'])[1 + i % 5], i, i * 1.25, 'note ' || i,"
    " jsonb_build_object('i', i), int8send(i), '2024-05-06 07:08:09.5+00'::timestamptz + i * interval '1 s'"
    " FROM generate_series(1, 995) i;"
    "INSERT INTO mixed (region, id, amount, note, doc, raw, at) VALUES"
    " ('eu', 10001, NULL, E'tab\\there\\nnew line\\\\back', '{\"a\": [1, \"x\\ty\"]}', '\\x00ff5c0a', NULL),"
    " ('eu', 10002, 0.5, '\\N', NULL, NULL, '1999-12-31 23:59:59.999999+00'),"
    " ('eu', 10003, -1, '', '\"\"', '\\x', 'infinity'),"
    " ('us', -5, 1e9, NULL, 'null', '\\x5c4e', '2024-01-01 00:00:00+05'),"
    " ('', 0, NULL, 'empty region', NULL, NULL, NULL)";

std::unique_ptr<PgServer> StartServer() {
  PgServer::Options o;
  // Text output must not depend on these: the reader pins its own.
  o.extra_conf = {"timezone = 'Asia/Tokyo'", "datestyle = 'SQL, DMY'", "bytea_output = 'escape'",
                  "extra_float_digits = 0"};
  auto s = PgServer::Start(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

class CdcSnapshotReader : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = StartServer();
    ASSERT_TRUE(pg_);
    Status st = pg_->Exec("postgres", std::string(kSchema) + kRows);
    ASSERT_TRUE(st.ok()) << st.ToString();
    auto r = SnapshotReader::Connect(pg_->Dsn());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    reader_ = std::move(r).value();
    auto t = reader_->Describe("public", "mixed");
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    mixed_ = std::move(t).value();
  }

  // Every row of a range through CopyRange, parsed.
  std::vector<Tuple> Copy(const SnapshotTable& t, const KeyRange& range) {
    std::vector<Tuple> rows;
    Status st = reader_->CopyRange(t, range, [&](std::string_view line) {
      Tuple row;
      SC_RETURN_IF_ERROR(ParseCopyLine(line, row));
      rows.push_back(std::move(row));
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return rows;
  }

  std::int64_t Count(SnapshotReader& r, const std::string& table) {
    auto rows = r.Query("SELECT count(*) FROM " + table);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? std::stoll((*rows)[0][0].text) : -1;
  }

  std::unique_ptr<PgServer> pg_;
  std::unique_ptr<SnapshotReader> reader_;
  SnapshotTable mixed_;
};

std::string KeyString(const Tuple& key) {
  std::string s;
  for (const auto& v : key) s += v.text + '\x1f';
  return s;
}

TEST_F(CdcSnapshotReader, DescribesLikePgoutput) {
  const Relation& r = *mixed_.relation;
  auto oid = pg_->Query("postgres", "SELECT 'public.mixed'::regclass::oid");
  ASSERT_TRUE(oid.ok());
  EXPECT_EQ(std::to_string(r.oid), *(*oid)[0][0]);
  EXPECT_EQ(r.schema, "public");
  EXPECT_EQ(r.name, "mixed");
  EXPECT_EQ(r.replica_identity, 'd');
  // Dropped and generated columns are not there.
  std::vector<std::string> names;
  for (const auto& c : r.columns) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"region", "id", "amount", "note", "doc", "raw", "at"}));
  EXPECT_EQ(r.columns[0].type_oid, 25u);
  EXPECT_EQ(r.columns[1].type_oid, 20u);
  EXPECT_EQ(r.columns[2].type_oid, 1700u);
  EXPECT_EQ(r.columns[2].type_modifier, ((12 << 16) | 2) + 4);
  EXPECT_EQ(r.columns[3].type_modifier, -1);
  EXPECT_EQ(r.columns[4].type_oid, 3802u);
  EXPECT_EQ(r.columns[5].type_oid, 17u);
  EXPECT_EQ(r.columns[6].type_oid, 1184u);
  EXPECT_EQ(mixed_.primary_key, (std::vector<std::string>{"region", "id"}));
  EXPECT_EQ(mixed_.key_index, (std::vector<int>{0, 1}));
  for (std::size_t i = 0; i < r.columns.size(); ++i) EXPECT_EQ(r.columns[i].part_of_identity, i < 2) << i;

  auto full = reader_->Describe("public", "full_ident");
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(full->relation->replica_identity, 'f');
  for (const auto& c : full->relation->columns) EXPECT_TRUE(c.part_of_identity) << c.name;

  auto missing = reader_->Describe("public", "nope");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("public.nope"), std::string::npos);
  auto nokey = reader_->Describe("public", "nokey");
  EXPECT_EQ(nokey.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(nokey.status().message().find("primary key"), std::string::npos);
}

TEST_F(CdcSnapshotReader, RangesCoverEveryRowOnce) {
  for (std::int64_t chunk : {64, 1000, 1000000}) {
    std::int64_t rows = -1;
    auto ranges = reader_->PlanRanges(mixed_, chunk, &rows);
    ASSERT_TRUE(ranges.ok()) << ranges.status().ToString();
    EXPECT_EQ(rows, 1000);
    EXPECT_EQ(static_cast<std::int64_t>(ranges->size()), (1000 + chunk - 1) / chunk) << chunk;
    EXPECT_FALSE(ranges->front().after.has_value());
    EXPECT_FALSE(ranges->back().upto.has_value());
    std::set<std::string> seen;
    for (std::size_t i = 0; i < ranges->size(); ++i) {
      const KeyRange& range = (*ranges)[i];
      if (i > 0) {  // contiguous: each range starts where the previous ended
        ASSERT_TRUE(range.after && (*ranges)[i - 1].upto);
        EXPECT_EQ(KeyString(*range.after), KeyString(*(*ranges)[i - 1].upto));
      }
      std::vector<Tuple> copied = Copy(mixed_, range);
      EXPECT_GT(copied.size(), 0u);
      if (i + 1 < ranges->size()) {
        EXPECT_EQ(static_cast<std::int64_t>(copied.size()), chunk);
      }
      for (const auto& row : copied) EXPECT_TRUE(seen.insert(KeyString(KeyOf(mixed_, row))).second);
      // Keyset pages of the same range agree with the copy.
      auto page = reader_->ReadRange(mixed_, range, 1000000);
      ASSERT_TRUE(page.ok()) << page.status().ToString();
      EXPECT_EQ(page->size(), copied.size());
    }
    EXPECT_EQ(seen.size(), 1000u) << chunk;
  }
  EXPECT_EQ(reader_->PlanRanges(mixed_, 0).status().code(), Code::kInvalidArgument);

  auto empty = reader_->Describe("public", "empty");
  ASSERT_TRUE(empty.ok());
  std::int64_t rows = -1;
  auto ranges = reader_->PlanRanges(*empty, 10, &rows);
  ASSERT_TRUE(ranges.ok()) << ranges.status().ToString();
  EXPECT_EQ(rows, 0);
  ASSERT_EQ(ranges->size(), 1u);
  EXPECT_FALSE((*ranges)[0].after || (*ranges)[0].upto);
  EXPECT_TRUE(Copy(*empty, (*ranges)[0]).empty());
}

TEST_F(CdcSnapshotReader, CopyLinesParseToTheSelectText) {
  auto selected =
      reader_->Query("SELECT region, id, amount, note, doc, raw, at FROM mixed ORDER BY region, id");
  ASSERT_TRUE(selected.ok()) << selected.status().ToString();
  std::vector<Tuple> copied = Copy(mixed_, KeyRange{});
  ASSERT_EQ(copied.size(), selected->size());
  ASSERT_EQ(copied.size(), 1000u);
  for (std::size_t i = 0; i < copied.size(); ++i) {
    ASSERT_EQ(copied[i].size(), 7u);
    for (std::size_t c = 0; c < 7; ++c) {
      EXPECT_EQ(copied[i][c].kind, (*selected)[i][c].kind) << i << "/" << c;
      EXPECT_EQ(copied[i][c].text, (*selected)[i][c].text) << i << "/" << c;
    }
  }
  // The pinned text forms, whatever the server's defaults say.
  auto odd = reader_->ReadKeys(mixed_, {{Value::Text("eu"), Value::Text("10001")},
                                        {Value::Text("eu"), Value::Text("10002")},
                                        {Value::Text("us"), Value::Text("-5")}});
  ASSERT_TRUE(odd.ok()) << odd.status().ToString();
  ASSERT_EQ(odd->size(), 3u);
  const Tuple& a = (*odd)[0];
  EXPECT_TRUE(a[2].is_null());
  EXPECT_EQ(a[3].text, "tab\there\nnew line\\back");
  EXPECT_EQ(a[4].text, "{\"a\": [1, \"x\\ty\"]}");
  EXPECT_EQ(a[5].text, "\\x00ff5c0a");
  EXPECT_TRUE(a[6].is_null());
  EXPECT_EQ((*odd)[1][3].text, "\\N");  // the text, not NULL
  EXPECT_EQ((*odd)[1][6].text, "1999-12-31 23:59:59.999999+00");
  EXPECT_EQ((*odd)[2][3].kind, Value::Kind::kNull);
  EXPECT_EQ((*odd)[2][6].text, "2023-12-31 19:00:00+00");
  // Written back in COPY form, a row parses to itself.
  for (const Tuple& row : *odd) {
    std::string line;
    AppendCopyRow(line, row);
    line.pop_back();
    Tuple back;
    ASSERT_TRUE(ParseCopyLine(line, back).ok());
    ASSERT_EQ(back.size(), row.size());
    for (std::size_t c = 0; c < row.size(); ++c) EXPECT_EQ(back[c].text, row[c].text);
  }
}

TEST_F(CdcSnapshotReader, ReadKeysInBatchesSkipsMissing) {
  std::vector<Tuple> keys;
  const char* regions[] = {"eu", "us", "o'neil", "a\tb", "Zed"};
  for (int i = 1; i <= 995; ++i)
    keys.push_back({Value::Text(regions[i % 5]), Value::Text(std::to_string(i))});
  for (int i = 0; i < 300; ++i) keys.push_back({Value::Text("nowhere"), Value::Text(std::to_string(i))});
  auto rows = reader_->ReadKeys(mixed_, keys);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(rows->size(), 995u);
  std::set<std::string> got;
  for (const auto& r : *rows) got.insert(KeyString(KeyOf(mixed_, r)));
  for (int i = 1; i <= 995; ++i) EXPECT_TRUE(got.count(KeyString(keys[static_cast<std::size_t>(i - 1)])));
  EXPECT_EQ(reader_->ReadKeys(mixed_, {{Value::Text("eu")}}).status().code(), Code::kInvalidArgument);
  auto none = reader_->ReadKeys(mixed_, {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(CdcSnapshotReader, ReadRangePagesByKey) {
  KeyRange range{Tuple{Value::Text("eu"), Value::Text("10001")},
                 Tuple{Value::Text("o'neil"), Value::Text("2")}};
  auto page = reader_->ReadRange(mixed_, range, 2);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0][1].text, "10002");  // after is exclusive
  EXPECT_EQ((*page)[1][1].text, "10003");
  range.after = KeyOf(mixed_, page->back());
  auto rest = reader_->ReadRange(mixed_, range, 1000);
  ASSERT_TRUE(rest.ok());
  ASSERT_FALSE(rest->empty());
  EXPECT_EQ(rest->back()[0].text, "o'neil");  // upto is inclusive
  EXPECT_EQ(rest->back()[1].text, "2");
}

TEST_F(CdcSnapshotReader, FailingCallbackStopsTheCopy) {
  int lines = 0;
  Status st = reader_->CopyRange(mixed_, KeyRange{}, [&](std::string_view) {
    return ++lines == 3 ? Cancelled("enough") : Status::Ok();
  });
  EXPECT_EQ(st.code(), Code::kCancelled);
  EXPECT_EQ(lines, 3);
  // Outside a snapshot the reader goes on working.
  EXPECT_EQ(Count(*reader_, "mixed"), 1000);
}

TEST_F(CdcSnapshotReader, ImportedSnapshotSeesTheSlotsPoint) {
  auto stream = ReplicationStream::Connect(pg_->Dsn());
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  auto slot = (*stream)->CreateSlotExported("seed", /*temporary=*/false);
  ASSERT_TRUE(slot.ok()) << slot.status().ToString();
  EXPECT_GT(slot->consistent_point, 0u);
  EXPECT_FALSE(slot->snapshot_name.empty());
  ASSERT_TRUE(reader_->ImportSnapshot(slot->snapshot_name).ok());
  // A second reader imports the same snapshot (the snapshot workers do).
  auto other = SnapshotReader::Connect(pg_->Dsn());
  ASSERT_TRUE(other.ok());
  Status imported = (*other)->ImportSnapshot(slot->snapshot_name);
  ASSERT_TRUE(imported.ok()) << imported.ToString();

  ASSERT_TRUE(pg_->Exec("postgres",
                        "INSERT INTO mixed (region, id) VALUES ('zz', 1); DELETE FROM mixed WHERE region = "
                        "'us' AND id = 1")
                  .ok());
  EXPECT_EQ(Count(*reader_, "mixed"), 1000);
  std::int64_t rows = 0;
  auto ranges = (*other)->PlanRanges(mixed_, 100, &rows);
  ASSERT_TRUE(ranges.ok());
  EXPECT_EQ(rows, 1000);
  std::size_t copied = 0;
  for (const auto& r : *ranges) {
    Status st = (*other)->CopyRange(mixed_, r, [&](std::string_view line) {
      EXPECT_NE(line.substr(0, 3), "zz\t");
      ++copied;
      return Status::Ok();
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  EXPECT_EQ(copied, 1000u);
  auto fresh = SnapshotReader::Connect(pg_->Dsn());
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(Count(**fresh, "mixed"), 1000 + 1 - 1);
  EXPECT_EQ(Count(**fresh, "mixed WHERE region = 'zz'"), 1);
  EXPECT_EQ(Count(*reader_, "mixed WHERE region = 'zz'"), 0);

  // Abandoning a copy inside the snapshot loses it: reads then fail rather
  // than silently read the present.
  Status st = reader_->CopyRange(mixed_, KeyRange{}, [](std::string_view) { return Cancelled("stop"); });
  EXPECT_EQ(st.code(), Code::kCancelled);
  EXPECT_EQ(reader_->Query("SELECT 1").status().code(), Code::kFailedPrecondition);
  ASSERT_TRUE(reader_->Finish().ok());
  EXPECT_EQ(Count(*reader_, "mixed WHERE region = 'zz'"), 1);
  ASSERT_TRUE((*other)->Finish().ok());
  EXPECT_EQ(Count(**other, "mixed WHERE region = 'zz'"), 1);

  // Once the creating connection ran another command the snapshot is gone.
  auto again = (*stream)->CreateSlotExported("seed", false);
  EXPECT_EQ(again.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("seed"), std::string::npos);
  EXPECT_FALSE(reader_->ImportSnapshot(slot->snapshot_name).ok());
  EXPECT_TRUE(reader_->Finish().ok());
  EXPECT_EQ(Count(*reader_, "mixed"), 1000);  // the reader still works
}

TEST_F(CdcSnapshotReader, TemporarySlotGoesWithItsConnection) {
  auto stream = ReplicationStream::Connect(pg_->Dsn());
  ASSERT_TRUE(stream.ok());
  auto slot = (*stream)->CreateSlotExported("verify_tmp", /*temporary=*/true);
  ASSERT_TRUE(slot.ok()) << slot.status().ToString();
  const std::string q = "SELECT temporary FROM pg_replication_slots WHERE slot_name = 'verify_tmp'";
  auto rows = pg_->Query("postgres", q);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(*(*rows)[0][0], "t");
  (*stream)->Close();
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    rows = pg_->Query("postgres", q);
    ASSERT_TRUE(rows.ok());
    gone = rows->empty();
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone);
  EXPECT_EQ((*stream)->CreateSlotExported("x", true).status().code(), Code::kUnavailable);
}

TEST_F(CdcSnapshotReader, StoppedServerIsUnavailable) {
  auto stream = ReplicationStream::Connect(pg_->Dsn());
  ASSERT_TRUE(stream.ok());
  ASSERT_TRUE(pg_->Stop().ok());
  EXPECT_EQ((*stream)->CreateSlotExported("late", false).status().code(), Code::kUnavailable);
  EXPECT_EQ(reader_->Query("SELECT 1").status().code(), Code::kUnavailable);
  EXPECT_EQ(SnapshotReader::Connect(pg_->Dsn()).status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace shardcast
