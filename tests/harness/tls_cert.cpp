#include "tests/harness/tls_cert.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "tests/harness/subprocess.h"

namespace shardcast::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kOpenssl = "/usr/bin/openssl";

// What verify-full checks: the name the client dials must be in the SAN.
constexpr const char* kServerExtensions =
    "basicConstraints = CA:FALSE\n"
    "keyUsage = critical, digitalSignature, keyEncipherment\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = DNS:localhost, IP:127.0.0.1\n";

}  // namespace

TlsFiles::~TlsFiles() {
  std::error_code ec;
  if (!dir.empty()) fs::remove_all(dir, ec);
}

StatusOr<std::unique_ptr<TlsFiles>> MakeTlsFiles() {
  if (!fs::exists(kOpenssl)) return FailedPrecondition("no /usr/bin/openssl; run scripts/install-deps.sh");
  auto files = std::make_unique<TlsFiles>();
  std::string tmpl = (fs::temp_directory_path() / "shardcast-tls-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return IoError("mkdtemp " + tmpl + " failed");
  files->dir = tmpl;
  const std::string& d = files->dir;
  files->ca_cert = d + "/ca.crt";
  files->server_cert = d + "/server.crt";
  files->server_key = d + "/server.key";
  const std::string log = d + "/openssl.log";
  {
    std::ofstream ext(d + "/server.ext");
    ext << kServerExtensions;
    if (!ext) return IoError("cannot write " + d + "/server.ext");
  }
  // EC keys: generated instantly, unlike RSA.
  const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                           "-nodes"};
  std::vector<std::string> ca = {kOpenssl, "req", "-x509"};
  ca.insert(ca.end(), ec_key.begin(), ec_key.end());
  ca.insert(ca.end(), {"-keyout", d + "/ca.key", "-out", files->ca_cert, "-days", "2", "-subj",
                       "/CN=shardcast test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                       "keyUsage=critical,keyCertSign,cRLSign"});
  SC_RETURN_IF_ERROR(RunProcess(ca, log, d).Prefixed("making the test CA"));
  std::vector<std::string> csr = {kOpenssl, "req", "-new"};
  csr.insert(csr.end(), ec_key.begin(), ec_key.end());
  csr.insert(csr.end(), {"-keyout", files->server_key, "-out", d + "/server.csr", "-subj", "/CN=localhost"});
  SC_RETURN_IF_ERROR(RunProcess(csr, log, d).Prefixed("making the server key"));
  SC_RETURN_IF_ERROR(RunProcess({kOpenssl, "x509", "-req", "-in", d + "/server.csr", "-CA", files->ca_cert,
                                 "-CAkey", d + "/ca.key", "-CAcreateserial", "-days", "2", "-extfile",
                                 d + "/server.ext", "-out", files->server_cert},
                                log, d)
                         .Prefixed("signing the server certificate"));
  return files;
}

}  // namespace shardcast::testing
