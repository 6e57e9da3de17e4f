#include <gtest/gtest.h>

#include "daemon/redact.h"

namespace shardcast {
namespace {

TEST(RedactDsnTest, KeyValueForms) {
  EXPECT_EQ(RedactDsn("host=h password=secret user=u"), "host=h password=*** user=u");
  EXPECT_EQ(RedactDsn("password=secret"), "password=***");
  EXPECT_EQ(RedactDsn("host=h password='a b' dbname=d"), "host=h password=*** dbname=d");
  EXPECT_EQ(RedactDsn("host=h password = 'a b' dbname=d"), "host=h password = *** dbname=d");
  EXPECT_EQ(RedactDsn("host=h password= x dbname=d"), "host=h password= *** dbname=d");
  EXPECT_EQ(RedactDsn("host=h\tpassword\t=\tx\ndbname=d"), "host=h\tpassword\t=\t***\ndbname=d");
  EXPECT_EQ(RedactDsn("password='it\\'s \\\\ here' user=u"), "password=*** user=u");
  EXPECT_EQ(RedactDsn("password=a\\ b user=u"), "password=*** user=u");
  EXPECT_EQ(RedactDsn("PASSWORD=x user=u"), "PASSWORD=*** user=u");
  EXPECT_EQ(RedactDsn("user=u password='unterminated"), "user=u password=***");
  EXPECT_EQ(RedactDsn("password=a password=b"), "password=*** password=***");
  EXPECT_EQ(RedactDsn("password="), "password=***");
}

TEST(RedactDsnTest, KeepsOtherValuesAndLookalikes) {
  EXPECT_EQ(RedactDsn("host=h port=5432 dbname=app user=me"), "host=h port=5432 dbname=app user=me");
  EXPECT_EQ(RedactDsn("passfile=/etc/pgpass user='pass word'"), "passfile=/etc/pgpass user='pass word'");
  EXPECT_EQ(RedactDsn("application_name='password=x' user=u"), "application_name='password=x' user=u");
  EXPECT_EQ(RedactDsn(""), "");
  EXPECT_EQ(RedactDsn("just words"), "just words");
}

TEST(RedactDsnTest, Uris) {
  EXPECT_EQ(RedactDsn("postgresql://user:secret@host/db"), "postgresql://user:***@host/db");
  EXPECT_EQ(RedactDsn("postgres://user:secret@host:5432/db?sslmode=require"),
            "postgres://user:***@host:5432/db?sslmode=require");
  EXPECT_EQ(RedactDsn("postgresql://user@host/db"), "postgresql://user@host/db");
  EXPECT_EQ(RedactDsn("postgresql://host/db"), "postgresql://host/db");
  EXPECT_EQ(RedactDsn("postgresql://"), "postgresql://");
  EXPECT_EQ(RedactDsn("postgresql://u:p%40ss@h1:5432,h2:5433/db"), "postgresql://u:***@h1:5432,h2:5433/db");
  EXPECT_EQ(RedactDsn("postgresql://u:a@b@host"), "postgresql://u:***@host");
  EXPECT_EQ(RedactDsn("postgresql://host/db?user=u&password=secret&sslmode=disable"),
            "postgresql://host/db?user=u&password=***&sslmode=disable");
  EXPECT_EQ(RedactDsn("postgresql://host?password=secret"), "postgresql://host?password=***");
  EXPECT_EQ(RedactDsn("postgresql://u:x@host/db?password=y"), "postgresql://u:***@host/db?password=***");
  EXPECT_EQ(RedactDsn("PostgreSQL://u:x@host"), "PostgreSQL://u:***@host");
  EXPECT_EQ(RedactDsn("  postgresql://u:x@host"), "  postgresql://u:***@host");
}

TEST(RedactPropertiesTest, SecretKeys) {
  EXPECT_TRUE(IsSecretProperty("sasl.password"));
  EXPECT_TRUE(IsSecretProperty("ssl.key.password"));
  EXPECT_TRUE(IsSecretProperty("ssl.keystore.password"));
  EXPECT_TRUE(IsSecretProperty("sasl.oauthbearer.client.secret"));
  EXPECT_TRUE(IsSecretProperty("ssl.key.pem"));
  EXPECT_TRUE(IsSecretProperty("sasl.oauthbearer.config"));
  EXPECT_TRUE(IsSecretProperty("SASL.PASSWORD"));
  EXPECT_FALSE(IsSecretProperty("sasl.username"));
  EXPECT_FALSE(IsSecretProperty("compression.type"));
  EXPECT_FALSE(IsSecretProperty("ssl.ca.location"));

  std::map<std::string, std::string> props = {{"sasl.username", "me"},
                                              {"sasl.password", "hunter2"},
                                              {"ssl.key.password", "k"},
                                              {"compression.type", "lz4"}};
  EXPECT_EQ(RedactProperties(props), (std::map<std::string, std::string>{{"sasl.username", "me"},
                                                                         {"sasl.password", "***"},
                                                                         {"ssl.key.password", "***"},
                                                                         {"compression.type", "lz4"}}));
  EXPECT_EQ(props.at("sasl.password"), "hunter2");  // the input is left alone
}

}  // namespace
}  // namespace shardcast
