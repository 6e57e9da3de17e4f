#include <gtest/gtest.h>

#include "cdc/source_catalog.h"

namespace shardcast {
namespace {

constexpr const char* kPinned =
    "options='-c DateStyle=ISO -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex -c "
    "IntervalStyle=postgres -c standard_conforming_strings=on'";
constexpr const char* kDefaults = " client_encoding='UTF8' fallback_application_name='shardcast'";
// A server that stops answering fails the call instead of hanging it.
constexpr const char* kLiveness =
    "connect_timeout='10' keepalives='1' keepalives_idle='30' keepalives_interval='10' keepalives_count='3' "
    "tcp_user_timeout='60000' ";

// Keys come out in libpq's own order, values quoted.
TEST(CdcPinnedDsn, KeyValueDsn) {
  EXPECT_EQ(PinnedDsn("host=h port=5433 dbname=app", true),
            std::string("dbname='app' host='h' port='5433' ") + kLiveness + kPinned + kDefaults +
                " replication='database'");
  EXPECT_EQ(PinnedDsn("host=h dbname=app", false),
            std::string("dbname='app' host='h' ") + kLiveness + kPinned + kDefaults);
}

TEST(CdcPinnedDsn, LivenessSettingsOfTheDsnWin) {
  std::string d = PinnedDsn("dbname=app connect_timeout=3 keepalives_idle=5", false);
  EXPECT_NE(d.find("connect_timeout='3'"), std::string::npos) << d;
  EXPECT_EQ(d.find("connect_timeout='10'"), std::string::npos) << d;
  EXPECT_NE(d.find("keepalives_idle='5'"), std::string::npos) << d;
  EXPECT_NE(d.find("tcp_user_timeout='60000'"), std::string::npos) << d;
}

TEST(CdcPinnedDsn, UriDsn) {
  std::string d = PinnedDsn("postgresql://u:se'cret@db.example:6543/app?sslmode=disable", true);
  EXPECT_NE(d.find("host='db.example'"), std::string::npos) << d;
  EXPECT_NE(d.find("port='6543'"), std::string::npos) << d;
  EXPECT_NE(d.find("dbname='app'"), std::string::npos) << d;
  EXPECT_NE(d.find("sslmode='disable'"), std::string::npos) << d;
  EXPECT_NE(d.find("password='se\\'cret'"), std::string::npos) << d;
  EXPECT_NE(d.find(kPinned), std::string::npos) << d;
  EXPECT_NE(d.find("replication='database'"), std::string::npos) << d;
}

TEST(CdcPinnedDsn, UserOptionsKeptAndOursWin) {
  std::string d =
      PinnedDsn("dbname=app options='-c TimeZone=Asia/Tokyo -c work_mem=64MB' replication=true", false);
  EXPECT_NE(d.find("options='-c TimeZone=Asia/Tokyo -c work_mem=64MB -c DateStyle=ISO -c TimeZone=UTC"),
            std::string::npos)
      << d;
  EXPECT_EQ(d.find("replication"), std::string::npos) << d;  // an ordinary connection stays ordinary
}

}  // namespace
}  // namespace shardcast
