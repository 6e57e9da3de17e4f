// Test-only fault injection that makes awkward crash interleavings
// reproducible: with SHARDCAST_KILL_POINT=<name> (or <name>:<n>, the n-th time
// it is reached) in the environment, the process sends itself SIGKILL when it
// reaches the named point. Without the variable a kill point costs one
// relaxed atomic load. The names are listed in README.md ("Fault injection").
#pragma once

namespace shardcast {

void KillPoint(const char* name);

// The same for damage rather than death: with SHARDCAST_FAULT_POINT=<name>
// (or <name>:<n>) set, returns true exactly once, the n-th time the named
// point is reached, and the caller injects its fault (e.g. the replication
// stream truncates a message). False everywhere else, always without the
// variable. Thread-safe.
bool FaultPoint(const char* name);

}  // namespace shardcast
