// Throwaway TLS material for tests: a self-signed certificate authority and a
// server certificate it signed for localhost (CN and subjectAltName
// DNS:localhost, IP:127.0.0.1), made with the openssl command line.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace shardcast::testing {

struct TlsFiles {
  std::string dir;          // a temporary directory holding all of them
  std::string ca_cert;      // dir/ca.crt, what clients trust (sslrootcert)
  std::string server_cert;  // dir/server.crt
  std::string server_key;   // dir/server.key, unencrypted

  TlsFiles() = default;
  TlsFiles(const TlsFiles&) = delete;
  TlsFiles& operator=(const TlsFiles&) = delete;
  ~TlsFiles();  // removes dir
};

// A new CA each call, so two calls give certificates that do not trust each other.
StatusOr<std::unique_ptr<TlsFiles>> MakeTlsFiles();

}  // namespace shardcast::testing
