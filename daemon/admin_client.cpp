// AdminClient on cpp-httplib: one short-lived connection per call (commands
// make a handful of calls, so keep-alive buys nothing).
#include "daemon/admin_client.h"

#include <httplib.h>

#include <exception>
#include <utility>

namespace shardcast {

namespace {

// An address that does not parse connects to port 0 and fails with the
// usual message.
void SplitListen(const std::string& listen, std::string* host, int* port) {
  if (ParseListen(listen, host, port)) return;
  *host = listen;
  *port = 0;
}

AdminResponse ToResponse(const httplib::Response& res) {
  AdminResponse out;
  out.status = res.status;
  out.body = res.body;
  out.content_type = res.get_header_value("Content-Type");
  return out;
}

}  // namespace

StatusOr<AdminClient> AdminClient::FromConfig(const Config& config) {
  SC_ASSIGN_OR_RETURN(std::string token, ReadAdminToken(config.admin_token_file));
  return AdminClient(config.admin_listen, std::move(token));
}

AdminClient::AdminClient(std::string listen, std::string token)
    : listen_(std::move(listen)), token_(std::move(token)) {}

namespace {

template <typename Call>
StatusOr<AdminResponse> Send(const std::string& listen, const std::string& token,
                             std::chrono::milliseconds timeout, Call call) {
  std::string host;
  int port = 0;
  SplitListen(listen, &host, &port);
  httplib::Client client(host, port);
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  client.set_keep_alive(false);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  httplib::Result result = call(client, headers);
  if (result) return ToResponse(result.value());
  if (result.error() == httplib::Error::Connection) {
    return Unavailable("no shardcast daemon answers at " + listen +
                       " (admin.listen): start it with shardcast run");
  }
  return Unavailable("shardcast daemon at " + listen +
                     " (admin.listen) did not answer: " + httplib::to_string(result.error()));
}

}  // namespace

StatusOr<AdminResponse> AdminClient::Get(const std::string& path) const {
  return Send(listen_, token_, timeout,
              [&](httplib::Client& c, const httplib::Headers& h) { return c.Get(path, h); });
}

StatusOr<AdminResponse> AdminClient::Post(const std::string& path, const std::string& json_body) const {
  return Send(listen_, token_, timeout, [&](httplib::Client& c, const httplib::Headers& h) {
    return c.Post(path, h, json_body, "application/json");
  });
}

StatusOr<AdminResponse> AdminClient::Delete(const std::string& path) const {
  return Send(listen_, token_, timeout,
              [&](httplib::Client& c, const httplib::Headers& h) { return c.Delete(path, h); });
}

}  // namespace shardcast
