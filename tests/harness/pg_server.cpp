#include "tests/harness/pg_server.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/harness/subprocess.h"

namespace shardcast::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTestUser = "shardcast-test";

struct PGconnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PGresultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, PGconnDeleter>;
using ResultPtr = std::unique_ptr<PGresult, PGresultDeleter>;

// The newest installed server, e.g. /usr/lib/postgresql/15/bin.
StatusOr<std::string> FindBinDir() {
  std::error_code ec;
  int best = -1;
  std::string best_dir;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    fs::path bin = entry.path() / "bin";
    if (!fs::exists(bin / "initdb", ec) || !fs::exists(bin / "pg_ctl", ec)) continue;
    int version = std::stoi(name);
    if (version > best) {
      best = version;
      best_dir = bin.string();
    }
  }
  if (best < 0) {
    return FailedPrecondition(
        "no PostgreSQL server in /usr/lib/postgresql/*/bin; run scripts/install-deps.sh");
  }
  return best_dir;
}

// PostgreSQL refuses to run as root: tests running as root run it as an
// unprivileged system user, created on first use.
struct User {
  std::string name;
  uid_t uid;
  gid_t gid;
};

std::optional<User> LookupUser(const char* name) {
  passwd* pw = getpwnam(name);
  if (pw == nullptr) return std::nullopt;
  return User{pw->pw_name, pw->pw_uid, pw->pw_gid};
}

StatusOr<User> UnprivilegedUser(const std::string& log) {
  if (auto u = LookupUser(kTestUser)) return *u;
  // Another test process may create it concurrently; look again either way.
  Status created = RunProcess(
      {"/usr/sbin/useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", kTestUser}, log);
  if (auto u = LookupUser(kTestUser)) return *u;
  if (auto u = LookupUser("postgres")) return *u;
  return FailedPrecondition("running as root and cannot create user " + std::string(kTestUser) + ": " +
                            created.message());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

StatusOr<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Internal("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  if (port <= 0) return Internal("cannot find a free loopback port");
  return port;
}

struct PgServer::Impl {
  std::string bin_dir;
  std::string root;       // mkdtemp directory: data, socket, logs
  std::string data_dir;   // root/data
  std::string log_path;   // server log (pg_ctl -l)
  std::string tool_log;   // initdb / pg_ctl output
  std::string base_conf;  // postgresql.conf as initdb wrote it
  std::vector<std::string> extra_conf;
  std::optional<Options::Tls> tls;
  std::optional<User> run_as;
  int port = 0;
  bool running = false;

  // argv run as the server's user when we are root.
  std::vector<std::string> AsServerUser(std::vector<std::string> argv) const {
    if (!run_as) return argv;
    std::vector<std::string> out = {"/usr/sbin/runuser", "-u", run_as->name, "--"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  }

  Status Tool(std::vector<std::string> argv) const {
    return RunProcess(AsServerUser(std::move(argv)), tool_log, root);
  }

  Status WriteConf() const {
    std::ofstream out(data_dir + "/postgresql.conf", std::ios::trunc);
    out << base_conf << "\n# shardcast test harness\n"
        << "listen_addresses = '127.0.0.1'\n"
        << "port = " << port << "\n"
        << "unix_socket_directories = '" << root << "'\n"
        << "wal_level = logical\n"
        << "max_prepared_transactions = 20\n"
        << "max_wal_senders = 20\n"
        << "max_replication_slots = 20\n"
        << "max_connections = 100\n"
        << "synchronous_commit = on\n"
        << "shared_buffers = 64MB\n";
    if (tls) {
      out << "ssl = on\n"
          << "ssl_cert_file = '" << data_dir << "/server.crt'\n"
          << "ssl_key_file = '" << data_dir << "/server.key'\n";
    }
    for (const auto& line : extra_conf) out << line << "\n";
    out.close();
    if (!out) return IoError("cannot write " + data_dir + "/postgresql.conf");
    return Status::Ok();
  }

  // The certificate and key in the data directory, owned by the server's
  // user: PostgreSQL refuses a key that others (or its group) can read.
  Status InstallTlsFiles() const {
    const std::pair<std::string, const char*> files[] = {{tls->cert_file, "server.crt"},
                                                         {tls->key_file, "server.key"}};
    for (const auto& [from, name] : files) {
      const std::string to = data_dir + "/" + name;
      std::error_code ec;
      fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
      if (ec) return IoError("cannot copy " + from + " to " + to + ": " + ec.message());
      if (chmod(to.c_str(), 0600) != 0) return IoError("cannot chmod " + to);
      if (run_as && chown(to.c_str(), run_as->uid, run_as->gid) != 0) return IoError("cannot chown " + to);
    }
    return Status::Ok();
  }

  // Socket connections stay trusted (pg_ctl -w probes them); loopback TCP
  // must use TLS when tls->require, plain connections being rejected outright.
  Status WriteHba() const {
    const char* tcp = tls->require ? "hostssl" : "host";
    std::ofstream out(data_dir + "/pg_hba.conf", std::ios::trunc);
    out << "# shardcast test harness (TLS)\n"
        << "local all all trust\n"
        << "local replication all trust\n"
        << tcp << " all all 127.0.0.1/32 trust\n"
        << tcp << " replication all 127.0.0.1/32 trust\n";
    if (tls->require) {
      out << "hostnossl all all 127.0.0.1/32 reject\n"
          << "hostnossl replication all 127.0.0.1/32 reject\n";
    }
    out.close();
    if (!out) return IoError("cannot write " + data_dir + "/pg_hba.conf");
    return Status::Ok();
  }

  Status PgCtlStart() {
    Status s = Tool({bin_dir + "/pg_ctl", "-D", data_dir, "-l", log_path, "-w", "-t", "60", "start"});
    if (!s.ok())
      return s.Prefixed("starting PostgreSQL; server log " + log_path + ":\n" + FileTail(log_path));
    running = true;
    return Status::Ok();
  }

  StatusOr<ConnPtr> Connect(const std::string& dsn) const {
    ConnPtr conn(PQconnectdb(dsn.c_str()));
    if (!conn) return Internal("PQconnectdb returned null");
    if (PQstatus(conn.get()) != CONNECTION_OK) {
      return Unavailable("connecting to " + dsn + ": " + PQerrorMessage(conn.get()));
    }
    return conn;
  }

  StatusOr<ResultPtr> Run(const std::string& dsn, const std::string& sql) const {
    SC_ASSIGN_OR_RETURN(ConnPtr conn, Connect(dsn));
    ResultPtr res(PQexec(conn.get(), sql.c_str()));
    ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
      std::string msg = res ? PQresultErrorMessage(res.get()) : PQerrorMessage(conn.get());
      while (!msg.empty() && msg.back() == '\n') msg.pop_back();
      return FailedPrecondition(msg + " (SQL: " + sql.substr(0, 200) + ")");
    }
    return res;
  }
};

StatusOr<std::unique_ptr<PgServer>> PgServer::Start(Options options) {
  std::unique_ptr<PgServer> server(new PgServer());
  server->impl_ = std::make_unique<Impl>();
  Impl& s = *server->impl_;
  s.extra_conf = std::move(options.extra_conf);
  s.tls = std::move(options.tls);
  SC_ASSIGN_OR_RETURN(s.bin_dir, FindBinDir());

  std::string tmpl = (fs::temp_directory_path() / "shardcast-pg-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return IoError("mkdtemp " + tmpl + " failed");
  s.root = tmpl;
  s.data_dir = s.root + "/data";
  s.log_path = s.root + "/server.log";
  s.tool_log = s.root + "/tools.log";

  if (geteuid() == 0) {
    SC_ASSIGN_OR_RETURN(User user, UnprivilegedUser(s.tool_log));
    s.run_as = user;
    if (chown(s.root.c_str(), user.uid, user.gid) != 0) return IoError("cannot chown " + s.root);
  }

  SC_RETURN_IF_ERROR(s.Tool({s.bin_dir + "/initdb", "-D", s.data_dir, "-U", "postgres", "--auth=trust", "-E",
                             "UTF8", "--locale=C", "--no-instructions"})
                         .Prefixed("initdb"));
  s.base_conf = ReadFile(s.data_dir + "/postgresql.conf");
  if (s.tls) {
    SC_RETURN_IF_ERROR(s.InstallTlsFiles().Prefixed("TLS files"));
    SC_RETURN_IF_ERROR(s.WriteHba());
  }

  // The port is free when probed but may be taken before the server binds it.
  Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    SC_ASSIGN_OR_RETURN(s.port, FreeLoopbackPort());
    SC_RETURN_IF_ERROR(s.WriteConf());
    last = s.PgCtlStart();
    if (last.ok()) return server;
  }
  return last;
}

PgServer::~PgServer() {
  if (!impl_) return;
  if (impl_->running) {
    (void)impl_->Tool({impl_->bin_dir + "/pg_ctl", "-D", impl_->data_dir, "-m", "immediate", "-w", "stop"});
  }
  std::error_code ec;
  fs::remove_all(impl_->root, ec);
}

int PgServer::port() const {
  return impl_->port;
}
const std::string& PgServer::data_dir() const {
  return impl_->data_dir;
}

std::string PgServer::Dsn(const std::string& db) const {
  std::string dsn = "host=127.0.0.1 port=" + std::to_string(impl_->port) + " user=postgres dbname=" + db;
  if (impl_->tls) dsn += " sslmode=require";
  return dsn;
}

Status PgServer::CreateDatabase(const std::string& db) {
  std::string quoted = "\"";
  for (char c : db) quoted += (c == '"') ? std::string("\"\"") : std::string(1, c);
  quoted += "\"";
  return Exec("postgres", "CREATE DATABASE " + quoted);
}

Status PgServer::Exec(const std::string& db, const std::string& sql) {
  return impl_->Run(Dsn(db), sql).status();
}

StatusOr<std::vector<Row>> PgServer::Query(const std::string& db, const std::string& sql) {
  SC_ASSIGN_OR_RETURN(ResultPtr res, impl_->Run(Dsn(db), sql));
  std::vector<Row> rows;
  int n = PQntuples(res.get());
  int m = PQnfields(res.get());
  rows.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    Row row;
    row.reserve(static_cast<std::size_t>(m));
    for (int j = 0; j < m; ++j) {
      if (PQgetisnull(res.get(), i, j)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(res.get(), i, j), PQgetlength(res.get(), i, j)));
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

Status PgServer::Stop() {
  if (!impl_->running) return Status::Ok();
  Status s = impl_->Tool({impl_->bin_dir + "/pg_ctl", "-D", impl_->data_dir, "-m", "fast", "-w", "stop"});
  if (!s.ok()) return s.Prefixed("stopping PostgreSQL");
  impl_->running = false;
  return Status::Ok();
}

Status PgServer::Restart() {
  if (impl_->running) SC_RETURN_IF_ERROR(Stop());
  return impl_->PgCtlStart();
}

}  // namespace shardcast::testing
