#include "daemon/config_dsn.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "daemon/config.h"

namespace shardcast {
namespace config_internal {
namespace {

struct ConninfoFree {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};
struct PqFree {
  void operator()(char* p) const { PQfreemem(p); }
};
using ConninfoPtr = std::unique_ptr<PQconninfoOption, ConninfoFree>;

StatusOr<ConninfoPtr> ParseConninfo(const std::string& dsn) {
  char* err = nullptr;
  ConninfoPtr opts(PQconninfoParse(dsn.c_str(), &err));
  std::unique_ptr<char, PqFree> err_owner(err);
  if (opts) return opts;
  std::string message = err ? err : "out of memory";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return ConfigError(message);
}

// 'value' with \ and ' escaped, as libpq's key=value syntax wants.
std::string Quote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

std::optional<std::string> DsnSyntaxError(const std::string& dsn) {
  auto parsed = ParseConninfo(dsn);
  if (parsed.ok()) return std::nullopt;
  return parsed.status().message();
}

StatusOr<std::string> ReadWholeFile(const std::string& path, const std::string& what) {
  auto fail = [&](int e) { return ConfigError(what + " " + path + ": " + std::strerror(e)); };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errno);
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return fail(e);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

}  // namespace config_internal

StatusOr<std::string> SourceConnectDsn(const SourceConfig& source) {
  if (source.password_file.empty()) return source.dsn;
  SC_ASSIGN_OR_RETURN(std::string password,
                      config_internal::ReadWholeFile(source.password_file, "source.password_file"));
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
  if (password.empty())
    return ConfigError("source.password_file " + source.password_file + ": the file is empty");

  auto opts = config_internal::ParseConninfo(source.dsn);
  if (!opts.ok()) return opts.status().Prefixed("source.dsn");
  // Rebuilt as key=value pairs, so URIs work too; the file's password
  // replaces one written in the DSN.
  std::string out;
  for (const PQconninfoOption* o = opts->get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr || std::strcmp(o->keyword, "password") == 0) continue;
    out += o->keyword;
    out += '=';
    out += config_internal::Quote(o->val);
    out += ' ';
  }
  out += "password=" + config_internal::Quote(password);
  return out;
}

}  // namespace shardcast
