// ReplicationStream, Decoder and SourceCatalog against a real PostgreSQL
// started by tests/harness.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "cdc/decoder.h"
#include "cdc/replication_stream.h"
#include "cdc/source_catalog.h"
#include "tests/harness/pg_server.h"

namespace shardcast {
namespace {

using testing::PgServer;
using namespace std::chrono_literals;

std::unique_ptr<PgServer> StartServer() {
  PgServer::Options o;
  // Text output must not depend on these: the connection pins its own.
  o.extra_conf = {"timezone = 'Asia/Tokyo'", "datestyle = 'SQL, DMY'", "bytea_output = 'escape'",
                  "extra_float_digits = 0", "wal_sender_timeout = '3s'"};
  auto s = PgServer::Start(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

// Reads until n transactions committed or the deadline passes.
std::vector<std::shared_ptr<Transaction>> ReadTransactions(ReplicationStream& stream, Decoder& decoder,
                                                           std::size_t n, std::chrono::seconds limit = 20s) {
  std::vector<std::shared_ptr<Transaction>> out;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    auto m = stream.Next(200ms);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    if (!m.ok()) break;
    if (!m->has_value()) continue;
    EXPECT_GE((*m)->wal_end, (*m)->wal_start);
    auto r = decoder.Feed((*m)->data);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) break;
    if (r->committed) out.push_back(r->committed);
  }
  return out;
}

class CdcStream : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = StartServer();
    ASSERT_TRUE(pg_);
    ASSERT_TRUE(
        pg_->Exec("postgres",
                  "CREATE TABLE items (id int8 PRIMARY KEY, name text, at timestamptz, raw bytea, f float8);"
                  "CREATE TABLE other (k text PRIMARY KEY)")
            .ok());
    auto cat = SourceCatalog::Connect(pg_->Dsn());
    ASSERT_TRUE(cat.ok()) << cat.status().ToString();
    catalog_ = std::move(cat).value();
    ASSERT_TRUE(catalog_->EnsurePublication("pub", {{"public", "items"}}).ok());
    auto st = ReplicationStream::Connect(pg_->Dsn());
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    stream_ = std::move(st).value();
  }

  std::unique_ptr<PgServer> pg_;
  std::unique_ptr<SourceCatalog> catalog_;
  std::unique_ptr<ReplicationStream> stream_;
};

TEST_F(CdcStream, StreamsDecodedChangesWithPinnedTextForms) {
  auto sys = stream_->IdentifySystem();
  ASSERT_TRUE(sys.ok()) << sys.status().ToString();
  EXPECT_EQ(sys->dbname, "postgres");
  EXPECT_EQ(sys->timeline, 1);
  EXPECT_GT(sys->xlogpos, 0u);
  auto sysid = catalog_->SystemIdentifier();
  ASSERT_TRUE(sysid.ok());
  EXPECT_EQ(*sysid, sys->system_identifier);

  auto created = stream_->CreateSlot("s1");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(*created);
  auto again = stream_->CreateSlot("s1");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(*again);
  auto slot = catalog_->GetSlot("s1");
  ASSERT_TRUE(slot.ok() && slot->has_value());
  EXPECT_EQ((*slot)->plugin, "pgoutput");
  EXPECT_EQ((*slot)->database, "postgres");
  EXPECT_EQ((*slot)->wal_status, "reserved");
  auto none = catalog_->GetSlot("nope");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  // One Exec runs as one transaction.
  ASSERT_TRUE(
      pg_->Exec("postgres", "INSERT INTO items VALUES (1, 'one', '2024-05-06 07:08:09.5+00', '\\x0102', 0.1)")
          .ok());
  ASSERT_TRUE(pg_->Exec("postgres", "INSERT INTO other VALUES ('not published')").ok());
  ASSERT_TRUE(
      pg_->Exec("postgres", "UPDATE items SET name = 'uno' WHERE id = 1; DELETE FROM items WHERE id = 1")
          .ok());
  ASSERT_TRUE(stream_->Start("s1", "pub", 0).ok());
  Decoder decoder;
  auto txns = ReadTransactions(*stream_, decoder, 2);
  ASSERT_EQ(txns.size(), 2u);
  ASSERT_EQ(txns[0]->changes.size(), 1u);
  const Change& ins = txns[0]->changes[0];
  EXPECT_EQ(ins.relation->QualifiedName(), "public.items");
  ASSERT_EQ(ins.new_tuple.size(), 5u);
  EXPECT_EQ(ins.new_tuple[0].text, "1");
  EXPECT_EQ(ins.new_tuple[2].text, "2024-05-06 07:08:09.5+00");  // ISO, UTC
  EXPECT_EQ(ins.new_tuple[3].text, "\\x0102");                   // hex
  EXPECT_EQ(ins.new_tuple[4].text, "0.1");                       // shortest exact (extra_float_digits=3)
  ASSERT_EQ(txns[1]->changes.size(), 2u);
  EXPECT_EQ(txns[1]->changes[0].op, Op::kUpdate);
  EXPECT_EQ(txns[1]->changes[0].new_tuple[1].text, "uno");
  EXPECT_EQ(txns[1]->changes[1].op, Op::kDelete);
  EXPECT_EQ(txns[1]->changes[1].old_kind, 'K');
  EXPECT_EQ(txns[1]->prev_end_lsn, txns[0]->end_lsn);
  EXPECT_GT(txns[1]->end_lsn, txns[0]->end_lsn);
  EXPECT_GE(stream_->server_wal_end(), txns[1]->end_lsn);
}

TEST_F(CdcStream, FlushLsnAdvancesConfirmedFlush) {
  ASSERT_TRUE(stream_->CreateSlot("s2").ok());
  auto before = catalog_->GetSlot("s2");
  ASSERT_TRUE(before.ok() && before->has_value());
  ASSERT_TRUE(pg_->Exec("postgres", "INSERT INTO items (id) VALUES (1)").ok());
  ASSERT_TRUE(pg_->Exec("postgres", "INSERT INTO items (id) VALUES (2)").ok());
  ASSERT_TRUE(stream_->Start("s2", "pub", 0).ok());
  Decoder decoder;
  auto txns = ReadTransactions(*stream_, decoder, 2);
  ASSERT_EQ(txns.size(), 2u);

  // Only the first transaction is confirmed: the slot must stop exactly there.
  stream_->SetFlushLsn(txns[0]->end_lsn);
  stream_->SetFlushLsn(txns[0]->end_lsn - 1);  // never moves back
  EXPECT_EQ(stream_->flush_lsn(), txns[0]->end_lsn);
  ASSERT_TRUE(stream_->SendStatus().ok());
  Lsn confirmed = 0;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto m = stream_->Next(100ms);  // keeps the connection serviced
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    auto slot = catalog_->GetSlot("s2");
    ASSERT_TRUE(slot.ok() && slot->has_value());
    confirmed = (*slot)->confirmed_flush_lsn;
    if (confirmed >= txns[0]->end_lsn) break;
  }
  EXPECT_EQ(confirmed, txns[0]->end_lsn);
  EXPECT_GT(confirmed, (*before)->confirmed_flush_lsn);
}

TEST_F(CdcStream, IdleStreamSurvivesWalSenderTimeout) {
  ASSERT_TRUE(stream_->CreateSlot("s3").ok());
  ASSERT_TRUE(stream_->Start("s3", "pub", 0).ok());
  stream_->status_interval = 500ms;
  // wal_sender_timeout is 3s: without status updates the server ends the stream.
  auto deadline = std::chrono::steady_clock::now() + 7s;
  int idle = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto m = stream_->Next(250ms);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    if (!m->has_value()) ++idle;
  }
  EXPECT_GT(idle, 10);
  EXPECT_GT(stream_->server_wal_end(), 0u);  // keepalives were read
  Decoder decoder;
  ASSERT_TRUE(pg_->Exec("postgres", "INSERT INTO items (id) VALUES (42)").ok());
  auto txns = ReadTransactions(*stream_, decoder, 1);
  ASSERT_EQ(txns.size(), 1u);
  EXPECT_EQ(txns[0]->changes.at(0).new_tuple.at(0).text, "42");
}

TEST_F(CdcStream, StoppedServerIsUnavailable) {
  ASSERT_TRUE(stream_->CreateSlot("s4").ok());
  ASSERT_TRUE(stream_->Start("s4", "pub", 0).ok());
  auto first = stream_->Next(100ms);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(pg_->Stop().ok());
  Status got;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (got.ok() && std::chrono::steady_clock::now() < deadline) {
    auto m = stream_->Next(200ms);
    if (!m.ok()) got = m.status();
  }
  EXPECT_EQ(got.code(), Code::kUnavailable) << got.ToString();
  std::printf("stopped server: %s\n", got.ToString().c_str());
  EXPECT_EQ(catalog_->Exec("SELECT 1").code(), Code::kUnavailable);

  auto st = ReplicationStream::Connect(pg_->Dsn());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), Code::kUnavailable);
  auto cat = SourceCatalog::Connect(pg_->Dsn() + " password=hunter2");
  ASSERT_FALSE(cat.ok());
  EXPECT_EQ(cat.status().code(), Code::kUnavailable);
  EXPECT_EQ(cat.status().message().find("hunter2"), std::string::npos);
}

TEST_F(CdcStream, UriDsnConnectsBothKinds) {
  std::string uri =
      "postgresql://postgres@127.0.0.1:" + std::to_string(pg_->port()) + "/postgres?application_name=x";
  auto st = ReplicationStream::Connect(uri);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  auto sys = (*st)->IdentifySystem();
  ASSERT_TRUE(sys.ok()) << sys.status().ToString();
  EXPECT_EQ(sys->dbname, "postgres");
  auto cat = SourceCatalog::Connect(uri);
  ASSERT_TRUE(cat.ok()) << cat.status().ToString();
  auto level = (*cat)->WalLevel();
  ASSERT_TRUE(level.ok());
  EXPECT_EQ(*level, "logical");
  // The pinned settings are in force on the ordinary connection too.
  EXPECT_TRUE((*cat)
                  ->Exec("DO $$ BEGIN IF current_setting('TimeZone') <> 'UTC' OR "
                         "current_setting('bytea_output') <> 'hex' THEN RAISE 'not pinned'; END IF; END $$")
                  .ok());
  EXPECT_EQ(ReplicationStream::Connect("postgresql://[bad").status().code(), Code::kConfig);
}

TEST_F(CdcStream, CatalogQueries) {
  auto lsn = catalog_->CurrentWalLsn();
  ASSERT_TRUE(lsn.ok());
  EXPECT_GT(*lsn, 0u);
  Status bad = catalog_->Exec("SELEC 1");
  EXPECT_EQ(bad.code(), Code::kFailedPrecondition);
  EXPECT_NE(bad.message().find("syntax error"), std::string::npos) << bad.message();

  // Present publication: missing tables are added, present ones left alone.
  ASSERT_TRUE(pg_->Exec("postgres", "CREATE TABLE \"Odd \"\"Name\" (id int PRIMARY KEY)").ok());
  ASSERT_TRUE(
      catalog_->EnsurePublication("pub", {{"public", "items"}, {"public", "other"}, {"public", "Odd \"Name"}})
          .ok());
  ASSERT_TRUE(catalog_->EnsurePublication("pub", {{"public", "items"}, {"public", "other"}}).ok());
  auto rows =
      pg_->Query("postgres", "SELECT tablename FROM pg_publication_tables WHERE pubname = 'pub' ORDER BY 1");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0][0], "Odd \"Name");
  EXPECT_EQ((*rows)[1][0], "items");
  auto root = pg_->Query("postgres", "SELECT pubviaroot FROM pg_publication WHERE pubname = 'pub'");
  ASSERT_TRUE(root.ok() && root->size() == 1);
  EXPECT_EQ((*root)[0][0], "t");
  EXPECT_FALSE(catalog_->EnsurePublication("pub2", {{"public", "missing"}}).ok());
}

TEST_F(CdcStream, DescribeTable) {
  ASSERT_TRUE(pg_->Exec("postgres",
                        "CREATE TABLE pk (a int, gone int, b text, c int, PRIMARY KEY (b, a));"
                        "ALTER TABLE pk DROP COLUMN gone;"
                        "CREATE TABLE full_t (x int, y int); ALTER TABLE full_t REPLICA IDENTITY FULL;"
                        "CREATE TABLE idx_t (x int NOT NULL, y int NOT NULL, z int);"
                        "CREATE UNIQUE INDEX idx_t_yx ON idx_t (y, x);"
                        "ALTER TABLE idx_t REPLICA IDENTITY USING INDEX idx_t_yx;"
                        "CREATE TABLE none_t (x int); ALTER TABLE none_t REPLICA IDENTITY NOTHING;")
                  .ok());
  auto pk = catalog_->DescribeTable("public", "pk");
  ASSERT_TRUE(pk.ok()) << pk.status().ToString();
  EXPECT_EQ(pk->replica_identity, 'd');
  EXPECT_EQ(pk->columns, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(pk->primary_key, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(pk->identity_columns, (std::vector<std::string>{"b", "a"}));

  auto full = catalog_->DescribeTable("public", "full_t");
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->replica_identity, 'f');
  EXPECT_TRUE(full->primary_key.empty());
  EXPECT_EQ(full->identity_columns, (std::vector<std::string>{"x", "y"}));

  auto idx = catalog_->DescribeTable("public", "idx_t");
  ASSERT_TRUE(idx.ok());
  EXPECT_EQ(idx->replica_identity, 'i');
  EXPECT_EQ(idx->identity_columns, (std::vector<std::string>{"y", "x"}));

  auto none = catalog_->DescribeTable("public", "none_t");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->replica_identity, 'n');
  EXPECT_TRUE(none->identity_columns.empty());

  auto missing = catalog_->DescribeTable("public", "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("public.nope"), std::string::npos);
}

}  // namespace
}  // namespace shardcast
