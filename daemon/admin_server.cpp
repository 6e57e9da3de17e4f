// AdminServer on cpp-httplib. Routing is httplib's own (method + regex
// matched against the whole path); every registered handler is wrapped so
// that the token is checked first and an exception becomes a 500, never a
// dead server thread.
#include "daemon/admin_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

namespace shardcast {

namespace {

std::string ErrorJson(const std::string& message) {
  return nlohmann::json{{"error", message}}.dump();
}

// Runs in time independent of where the strings first differ, so a client
// cannot find the token byte by byte from response times. Only the length
// leaks, which the token's randomness makes harmless.
bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::string& other = a.size() == b.size() ? b : a;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ other[i]);
  return diff == 0;
}

void SetJson(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

}  // namespace

struct AdminServer::Impl {
  std::string listen;
  std::string token;
  httplib::Server server;
  std::thread thread;
  int port = -1;

  bool Authorized(const httplib::Request& req) const {
    if (token.empty()) return true;
    const std::string header = req.get_header_value("Authorization");
    static const std::string kPrefix = "Bearer ";
    if (header.compare(0, kPrefix.size(), kPrefix) != 0) return false;
    return ConstantTimeEquals(header.substr(kPrefix.size()), token);
  }

  // Wraps a handler: token first, then the call, exceptions to 500.
  httplib::Server::Handler Wrap(Handler handler) {
    return [this, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
      if (!Authorized(req)) {
        SetJson(res, 401, ErrorJson("missing or wrong bearer token (admin.token_file)"));
        return;
      }
      AdminRequest request;
      request.method = req.method;
      request.path = req.path;
      for (const auto& [k, v] : req.params) request.params.emplace(k, v);
      for (const auto& m : req.matches) request.matches.push_back(m.str());
      request.body = req.body;
      try {
        AdminResponse response = handler(request);
        res.status = response.status;
        res.set_content(response.body, response.content_type.c_str());
      } catch (const std::exception& e) {
        SetJson(res, 500, ErrorJson(std::string("internal error: ") + e.what()));
      } catch (...) {
        SetJson(res, 500, ErrorJson("internal error"));
      }
    };
  }
};

AdminServer::AdminServer(std::string listen, std::string token) : impl_(std::make_unique<Impl>()) {
  impl_->listen = std::move(listen);
  impl_->token = std::move(token);
  // httplib's default also sets SO_REUSEPORT, which would let a second
  // server bind a port already in use instead of failing.
  impl_->server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Errors without a body (unrouted, bad request) get a JSON one; handlers'
  // own error bodies are left alone.
  impl_->server.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const std::string what = res.status == 404
                                     ? std::string("no such endpoint")
                                     : "request failed with HTTP status " + std::to_string(res.status);
        SetJson(res, res.status, ErrorJson(what));
        return httplib::Server::HandlerResponse::Handled;
      }));
  impl_->server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        SetJson(res, 500, ErrorJson("internal error"));
      });
}

AdminServer::~AdminServer() {
  Stop();
}

void AdminServer::Handle(const std::string& method, const std::string& pattern, Handler handler) {
  auto wrapped = impl_->Wrap(std::move(handler));
  if (method == "GET") {
    impl_->server.Get(pattern, wrapped);
  } else if (method == "POST") {
    impl_->server.Post(pattern, wrapped);
  } else if (method == "PUT") {
    impl_->server.Put(pattern, wrapped);
  } else if (method == "DELETE") {
    impl_->server.Delete(pattern, wrapped);
  } else if (method == "PATCH") {
    impl_->server.Patch(pattern, wrapped);
  }
}

Status AdminServer::Start() {
  if (impl_->thread.joinable()) return Internal("admin server already started");
  std::string host;
  int port = 0;
  if (!ParseListen(impl_->listen, &host, &port)) {
    return ConfigError("admin.listen: '" + impl_->listen + "' is not host:port");
  }
  // Catch-alls after every registered route, so that an unknown path asks
  // for the token before it says 404.
  auto not_found = impl_->Wrap([](const AdminRequest& req) {
    return AdminResponse{404, ErrorJson("no such endpoint: " + req.method + " " + req.path)};
  });
  impl_->server.Get(".*", not_found);
  impl_->server.Post(".*", not_found);
  impl_->server.Put(".*", not_found);
  impl_->server.Delete(".*", not_found);
  impl_->server.Patch(".*", not_found);

  if (port == 0) {
    port = impl_->server.bind_to_any_port(host);
    if (port < 0) return Unavailable("admin API cannot listen on " + impl_->listen + ": bind failed");
  } else if (!impl_->server.bind_to_port(host, port)) {
    return Unavailable("admin API cannot listen on " + impl_->listen +
                       ": bind failed (address in use, or not an address of this host)");
  }
  impl_->port = port;
  impl_->thread = std::thread([this] {
    pthread_setname_np(pthread_self(), "sc-admin");
    impl_->server.listen_after_bind();
  });
  // Stop() only reaches a server whose accept loop has begun.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!impl_->server.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!impl_->server.is_running()) {
    Stop();
    return Internal("admin API on " + impl_->listen + " did not start serving");
  }
  return Status::Ok();
}

void AdminServer::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

int AdminServer::port() const {
  return impl_->port;
}

StatusOr<std::string> ReadAdminToken(const std::string& token_file) {
  if (token_file.empty()) return std::string();
  std::ifstream in(token_file, std::ios::binary);
  if (!in) return ConfigError("admin.token_file: cannot read " + token_file);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string token = buf.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) return ConfigError("admin.token_file: " + token_file + " is empty");
  return token;
}

bool ParseListen(const std::string& listen, std::string* host, int* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) return false;
  std::string h = listen.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int p = 0;
  for (size_t i = colon + 1; i < listen.size(); ++i) {
    if (listen[i] < '0' || listen[i] > '9') return false;
    p = p * 10 + (listen[i] - '0');
    if (p > 65535) return false;
  }
  if (h.empty()) return false;
  *host = h;
  *port = p;
  return true;
}

}  // namespace shardcast
