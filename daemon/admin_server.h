// The admin HTTP API (DESIGN.md "Observability and operation"): loopback by
// default, an optional bearer token compared in constant time. The daemon
// registers its endpoints; commands (snapshot, verify, status) call them
// through AdminClient. Built on cpp-httplib.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardcast {

struct AdminRequest {
  std::string method;                         // "GET", "POST", "DELETE"
  std::string path;                           // "/jobs/snap-3"
  std::map<std::string, std::string> params;  // query parameters
  std::vector<std::string> matches;           // regex groups of the route pattern, [0] whole path
  std::string body;
};

struct AdminResponse {
  int status = 200;
  std::string body;  // JSON unless content_type says otherwise
  std::string content_type = "application/json";
};

class AdminServer {
 public:
  using Handler = std::function<AdminResponse(const AdminRequest&)>;

  // listen: "127.0.0.1:9188" ("host:port"; port 0 picks a free one). token:
  // empty for none; else every request needs "Authorization: Bearer <token>"
  // (401 otherwise).
  AdminServer(std::string listen, std::string token);
  ~AdminServer();

  // pattern is a regex matched against the whole path. Register before Start.
  void Handle(const std::string& method, const std::string& pattern, Handler handler);

  // Binds and serves on its own thread. kUnavailable naming the address when
  // it cannot bind (in use, bad host).
  Status Start();
  void Stop();
  int port() const;  // the bound port, after Start

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port" or "[v6]:port" (brackets dropped); false when it does
// not parse.
bool ParseListen(const std::string& listen, std::string* host, int* port);

// Reads admin.token_file ("" when the path is empty); its trailing newline is
// dropped. kConfig naming the file when it is unreadable or empty.
StatusOr<std::string> ReadAdminToken(const std::string& token_file);

}  // namespace shardcast
