// COPY's text format (one row per line, fields separated by tabs, \N for
// NULL, backslash escapes). A field's unescaped text is the type's output
// function result, the same text pgoutput sends, so a COPY line can be
// routed by its shard key without re-encoding and forwarded to a shard's
// COPY FROM STDIN as it is.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cdc/change.h"
#include "common/status.h"

namespace shardcast {

// Splits one line (without its trailing newline) into values: \N is NULL,
// everything else kText with escapes (\\ \t \n \r \b \f \v, \NNN octal,
// \xHH hex) resolved. kCorruption naming the column on a malformed escape.
Status ParseCopyLine(std::string_view line, Tuple& out);

// Appends one value in COPY text form (NULL as \N), escaping what COPY
// requires. Unchanged (u) values are a programming error and written as \N.
void AppendCopyField(std::string& out, const Value& value);
// A whole row: fields joined by tabs, ended by '\n'.
void AppendCopyRow(std::string& out, const Tuple& row);

}  // namespace shardcast
