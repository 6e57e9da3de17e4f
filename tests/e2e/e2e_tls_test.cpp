// A source that accepts only TLS (hostssl in pg_hba.conf, plain TCP
// rejected), its server certificate signed by a CA the test makes: shardcast
// with sslmode=verify-full and that CA as sslrootcert snapshots and streams to
// the shards, its replication connection encrypted; the same config trusting
// another CA is refused with libpq's certificate error, and nothing starts.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "tests/e2e/e2e_support.h"
#include "tests/harness/tls_cert.h"

namespace shardcast::testing {
namespace {

using namespace std::chrono_literals;

const char* kDdl = R"sql(
CREATE TABLE public.items (id bigint PRIMARY KEY, owner_id bigint NOT NULL, label text);
)sql";
const std::vector<TableUnderTest> kTables = {{"public.items", "id", "owner_id", "id"}};
const char* kSourceOnly = "ALTER TABLE public.items REPLICA IDENTITY FULL;";

std::unique_ptr<TlsFiles> MustTls() {
  auto files = MakeTlsFiles();
  EXPECT_TRUE(files.ok()) << files.status().ToString();
  return files.ok() ? std::move(files).value() : nullptr;
}

// Checks the name "localhost" against the certificate; dials 127.0.0.1,
// the only address the server listens on.
std::string VerifyFullDsn(PgServer& server, const std::string& host, const std::string& ca) {
  return "host=" + host + " hostaddr=127.0.0.1 port=" + std::to_string(server.port()) +
         " user=postgres dbname=app sslmode=verify-full sslrootcert=" + ca;
}

// libpq's error for dsn, or "" when it connects; *ssl says whether it used TLS.
std::string ConnectError(const std::string& dsn, bool* ssl = nullptr) {
  PGconn* conn = PQconnectdb(dsn.c_str());
  std::string error = PQstatus(conn) == CONNECTION_OK ? "" : PQerrorMessage(conn);
  if (ssl != nullptr) *ssl = PQsslInUse(conn) == 1;
  PQfinish(conn);
  return error;
}

void StartTlsSource(E2EEnv& env, const TlsFiles& tls) {
  E2EEnv::Options options;
  options.source.tls = PgServer::Options::Tls{tls.server_cert, tls.server_key};
  env.Start(2, kDdl, kSourceOnly, options);
}

std::string SlotCount(E2EEnv& env) {
  return QueryRows(env.source(), "app",
                   "SELECT count(*) FROM pg_replication_slots WHERE slot_name='shardcast'")
      .at(0)
      .at(0)
      .value();
}

TEST(TlsE2E, VerifyFullSourceReplicatesOverTls) {
  auto tls = MustTls();
  ASSERT_TRUE(tls);
  E2EEnv env;
  StartTlsSource(env, *tls);
  PgServer& src = env.source();

  // The server is TLS-only, and verify-full checks the name as well as the CA.
  const std::string plain = "host=127.0.0.1 port=" + std::to_string(src.port()) + " user=postgres dbname=app";
  std::string refused = ConnectError(plain + " sslmode=disable");
  EXPECT_NE(refused.find("pg_hba.conf rejects connection"), std::string::npos) << refused;
  EXPECT_NE(refused.find("no encryption"), std::string::npos) << refused;
  bool ssl = false;
  EXPECT_EQ(ConnectError(VerifyFullDsn(src, "localhost", tls->ca_cert), &ssl), "");
  EXPECT_TRUE(ssl);
  std::string wrong_name = ConnectError(VerifyFullDsn(src, "wrong.example", tls->ca_cert));
  EXPECT_NE(wrong_name.find("does not match host name \"wrong.example\""), std::string::npos) << wrong_name;

  // Rows before the first start arrive by the initial snapshot, the rest by the stream.
  ASSERT_TRUE(
      src.Exec("app", "INSERT INTO items SELECT g, g % 11, 'before ' || g FROM generate_series(1, 200) g")
          .ok());
  env.set_source_dsn(VerifyFullDsn(src, "localhost", tls->ca_cert));
  env.StartDaemon(env.WriteConfig(kTables));
  env.WaitForSlot();
  ASSERT_TRUE(src.Exec("app",
                       "INSERT INTO items SELECT g, g % 11, 'after ' || g FROM generate_series(201, 400) g; "
                       "UPDATE items SET owner_id = owner_id + 100 WHERE id % 7 = 0; "
                       "DELETE FROM items WHERE id % 13 = 0;")
                  .ok());
  env.WaitCaughtUp({});
  env.ExpectShardsMatchSource(kTables);
  auto on_shards = [&] {
    long n = 0;
    for (int i = 0; i < env.shard_count(); ++i)
      n += std::stol(QueryRows(env.shard_server(i), "shard" + std::to_string(i), "SELECT count(*) FROM items")
                         .at(0)
                         .at(0)
                         .value());
    return n;
  };
  EXPECT_EQ(on_shards(), 400 - 400 / 13);

  // The walsender serving shardcast's stream runs over TLS.
  std::vector<Row> senders;
  for (int i = 0; i < 100 && senders.empty(); ++i) {
    senders =
        QueryRows(src, "app",
                  "SELECT s.ssl::text, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                  "WHERE a.backend_type = 'walsender'");
    if (senders.empty()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_FALSE(senders.empty()) << "no replication connection on the source";
  for (const auto& sender : senders) {
    EXPECT_EQ(sender[0], "true");
    EXPECT_TRUE(sender[1].has_value() && sender[1]->rfind("TLSv1", 0) == 0) << sender[1].value_or("NULL");
  }
  EXPECT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
}

TEST(TlsE2E, AnotherCaIsRefusedWithTheCertificateError) {
  auto tls = MustTls();
  auto other = MustTls();
  ASSERT_TRUE(tls && other);
  E2EEnv env;
  StartTlsSource(env, *tls);
  EXPECT_NE(ConnectError(VerifyFullDsn(env.source(), "localhost", other->ca_cert))
                .find("certificate verify failed"),
            std::string::npos);

  env.set_source_dsn(VerifyFullDsn(env.source(), "localhost", other->ca_cert));
  env.StartDaemon(env.WriteConfig(kTables));
  // A source it cannot trust is a configuration error, like a refused
  // password: the daemon says why and exits 70 rather than retrying forever.
  const bool exited = env.daemon()->WaitExit(60s);
  const std::string log = env.daemon()->Log();
  ASSERT_TRUE(exited) << log;
  EXPECT_EQ(env.daemon()->exit_code(), 70) << log;
  EXPECT_NE(log.find("connecting to the source"), std::string::npos) << log;
  EXPECT_NE(log.find("SSL error: certificate verify failed"), std::string::npos) << log;
  EXPECT_EQ(SlotCount(env), "0") << "nothing may start on an untrusted source";
}

}  // namespace
}  // namespace shardcast::testing
