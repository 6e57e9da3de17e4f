// A throwaway PostgreSQL server for tests: initdb in a temporary directory,
// a free loopback port, wal_level=logical, max_prepared_transactions>0.
// When the test runs as root the server runs as an unprivileged user.
// With Options::tls it serves TLS and refuses plain TCP connections.
// The destructor stops it (immediate) and removes the directory, also when
// the test failed.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardcast::testing {

using Row = std::vector<std::optional<std::string>>;

// A loopback TCP port that was free when probed.
StatusOr<int> FreeLoopbackPort();

class PgServer {
 public:
  struct Options {
    std::vector<std::string> extra_conf;  // extra postgresql.conf lines
    // A server certificate and key (PEM); copied into the data directory.
    struct Tls {
      std::string cert_file;
      std::string key_file;
      // pg_hba.conf rejects TCP connections (replication too) without TLS.
      bool require = true;
    };
    std::optional<Tls> tls;
  };
  static StatusOr<std::unique_ptr<PgServer>> Start(Options options);
  static StatusOr<std::unique_ptr<PgServer>> Start() { return Start(Options{}); }
  ~PgServer();

  int port() const;
  const std::string& data_dir() const;
  // "host=127.0.0.1 port=N user=postgres dbname=DB"; trust auth on loopback.
  // With TLS, " sslmode=require" too (encrypted, the certificate unchecked).
  std::string Dsn(const std::string& db = "postgres") const;

  Status CreateDatabase(const std::string& db);
  // Runs SQL (may hold several statements) and fails with the server's message.
  Status Exec(const std::string& db, const std::string& sql);
  // Rows of the last statement, values in text form, NULL as nullopt.
  StatusOr<std::vector<Row>> Query(const std::string& db, const std::string& sql);

  Status Stop();     // fast shutdown; keeps the data directory
  Status Restart();  // start again on the same port and data

 private:
  PgServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardcast::testing
