// Calls the running daemon's admin API (the commands that act on the
// daemon: snapshot, verify's hold, status).
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"
#include "daemon/admin_server.h"
#include "daemon/config.h"

namespace shardcast {

class AdminClient {
 public:
  // admin.listen and the token from admin.token_file. kConfig when the token
  // file is unreadable.
  static StatusOr<AdminClient> FromConfig(const Config& config);
  AdminClient(std::string listen, std::string token);

  // kUnavailable naming the address when nothing answers there (the daemon
  // is not running): "no shardcast daemon answers at 127.0.0.1:9188
  // (admin.listen): start it with shardcast run". Any HTTP status is
  // returned as a response, not an error.
  StatusOr<AdminResponse> Get(const std::string& path) const;
  StatusOr<AdminResponse> Post(const std::string& path, const std::string& json_body) const;
  StatusOr<AdminResponse> Delete(const std::string& path) const;

  std::chrono::milliseconds timeout{10000};
  const std::string& listen() const { return listen_; }

 private:
  std::string listen_;
  std::string token_;
};

}  // namespace shardcast
