// Column values as Debezium's PostgreSQL connector writes them through the
// JSON converter with schemas disabled and decimal.handling.mode=string,
// time.precision.mode=adaptive, binary.handling.mode=base64 (DESIGN.md
// "Kafka messages"). Input is pgoutput's text form under the settings the
// source connection pins (DateStyle=ISO, TimeZone=UTC, bytea_output=hex,
// extra_float_digits=3, IntervalStyle=postgres).
//
// This is the hot path of the Kafka feed: everything appends to a caller's
// std::string and never fails. Text that does not parse as its type is written
// as a JSON string of the text, so a surprise never loses data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cdc/change.h"

namespace shardcast {

// Debezium's value for an unchanged TOASTed column it cannot read.
inline constexpr std::string_view kUnavailableValue = "__debezium_unavailable_value";

// Appends s as a quoted JSON string: '"' and '\' escaped, control characters
// as \b \f \n \r \t or \u00XX, everything else (UTF-8 included) verbatim.
void AppendJsonString(std::string& out, std::string_view s);

// Appends the JSON for one pgoutput text value of a column of type type_oid.
// type_modifier is the column's atttypmod: time(p) and timestamp(p) with
// p <= 3 are milliseconds (Debezium's Time/Timestamp), otherwise
// microseconds (MicroTime/MicroTimestamp); -1 means the default precision 6.
void AppendJsonText(std::string& out, std::uint32_t type_oid, std::int32_t type_modifier,
                    std::string_view text);

// Appends a whole Value: NULL -> null, unchanged TOAST -> kUnavailableValue.
void AppendJsonValue(std::string& out, std::uint32_t type_oid, std::int32_t type_modifier, const Value& v);

// PostgreSQL type OIDs this file knows (pg_type.dat).
namespace pgtype {
inline constexpr std::uint32_t kBool = 16, kBytea = 17, kChar = 18, kName = 19, kInt8 = 20, kInt2 = 21,
                               kInt4 = 23, kText = 25, kOid = 26, kJson = 114, kFloat4 = 700, kFloat8 = 701,
                               kBpchar = 1042, kVarchar = 1043, kDate = 1082, kTime = 1083, kTimestamp = 1114,
                               kTimestamptz = 1184, kInterval = 1186, kTimetz = 1266, kNumeric = 1700,
                               kUuid = 2950, kJsonb = 3802;
}  // namespace pgtype

// The element type of an array type OID, or 0 when type_oid is not an array
// type this file maps.
std::uint32_t ArrayElementType(std::uint32_t type_oid);

}  // namespace shardcast
