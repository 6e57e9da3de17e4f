#include "daemon/redact.h"

#include <cctype>

namespace shardcast {
namespace {

constexpr std::string_view kMask = "***";

bool IsSpace(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && Lower(s.substr(0, prefix.size())) == prefix;
}

// "postgresql://user:secret@host:5432/db?password=x&sslmode=require"
std::string RedactUri(std::string_view uri, std::size_t scheme_end) {
  std::string out(uri.substr(0, scheme_end));
  std::string_view rest = uri.substr(scheme_end);
  std::size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  // The last @ ends the user info: a host never holds one.
  std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    std::size_t colon = userinfo.find(':');
    if (colon != std::string_view::npos) {
      out += userinfo.substr(0, colon + 1);
      out += kMask;
    } else {
      out += userinfo;
    }
    out += authority.substr(at);
  } else {
    out += authority;
  }
  if (authority_end == std::string_view::npos) return out;
  std::string_view tail = rest.substr(authority_end);
  std::size_t q = tail.find('?');
  out += tail.substr(0, q);
  if (q == std::string_view::npos) return out;
  out += '?';
  std::string_view query = tail.substr(q + 1);
  while (true) {
    std::size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    std::size_t eq = param.find('=');
    if (eq != std::string_view::npos && Lower(param.substr(0, eq)) == "password") {
      out += param.substr(0, eq + 1);
      out += kMask;
    } else {
      out += param;
    }
    if (amp == std::string_view::npos) break;
    out += '&';
    query = query.substr(amp + 1);
  }
  return out;
}

// "host=h password = 'a b' user=u": libpq's key=value syntax, where a value
// is a single-quoted string with backslash escapes or a run of non-spaces.
std::string RedactKeyValue(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (IsSpace(s[i])) {
      out += s[i++];
      continue;
    }
    std::size_t key_start = i;
    while (i < s.size() && !IsSpace(s[i]) && s[i] != '=') ++i;
    std::string_view key = s.substr(key_start, i - key_start);
    while (i < s.size() && IsSpace(s[i])) ++i;
    if (i >= s.size() || s[i] != '=') {
      out += s.substr(key_start, i - key_start);  // not a key=value pair; keep it
      continue;
    }
    ++i;  // '='
    while (i < s.size() && IsSpace(s[i])) ++i;
    out += s.substr(key_start, i - key_start);
    std::size_t value_start = i;
    if (i < s.size() && s[i] == '\'') {
      for (++i; i < s.size() && s[i] != '\''; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
      }
      if (i < s.size()) ++i;  // closing quote; an unterminated value runs to the end
    } else {
      while (i < s.size() && !IsSpace(s[i])) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        ++i;
      }
    }
    if (Lower(key) == "password") {
      out += kMask;
    } else {
      out += s.substr(value_start, i - value_start);
    }
  }
  return out;
}

}  // namespace

std::string RedactDsn(std::string_view dsn) {
  std::size_t lead = 0;
  while (lead < dsn.size() && IsSpace(dsn[lead])) ++lead;
  std::string_view body = dsn.substr(lead);
  for (std::string_view scheme : {"postgresql://", "postgres://"}) {
    if (StartsWithIgnoreCase(body, scheme)) {
      return std::string(dsn.substr(0, lead)) + RedactUri(body, scheme.size());
    }
  }
  return RedactKeyValue(dsn);
}

bool IsSecretProperty(std::string_view key) {
  std::string k = Lower(key);
  return k.find("password") != std::string::npos || k.find("secret") != std::string::npos ||
         k == "ssl.key.pem" || k == "sasl.oauthbearer.config";
}

std::map<std::string, std::string> RedactProperties(const std::map<std::string, std::string>& properties) {
  std::map<std::string, std::string> out = properties;
  for (auto& [key, value] : out) {
    if (IsSecretProperty(key)) value = std::string(kMask);
  }
  return out;
}

}  // namespace shardcast
