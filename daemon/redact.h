// Hiding secrets before text reaches a log, a status page or an error.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace shardcast {

// The DSN with every password value replaced by ***. Handles key=value DSNs
// (quoted or not, any spacing: "password = 'a b'") and URIs
// ("postgresql://user:secret@host/db", "?password=secret"). Everything else is
// kept as written; text that is neither form comes back unchanged.
std::string RedactDsn(std::string_view dsn);

// Whether a librdkafka property holds a secret: its name contains "password"
// or "secret" (sasl.password, ssl.key.password, sasl.oauthbearer.client.secret),
// or it is an inline private key or an OAuth config (ssl.key.pem,
// sasl.oauthbearer.config).
bool IsSecretProperty(std::string_view key);
// The properties with the values of secret ones replaced by ***.
std::map<std::string, std::string> RedactProperties(const std::map<std::string, std::string>& properties);

}  // namespace shardcast
