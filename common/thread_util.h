// Named threads: every thread shardcast starts has a name (visible in top,
// gdb and the logs), and is created by one function that returns a Status.
#pragma once

#include <functional>
#include <string>
#include <thread>

#include "common/status.h"

namespace shardcast {

// Names are cut to 15 bytes (the kernel's limit).
StatusOr<std::thread> StartThread(const std::string& name, std::function<void()> body);
void SetCurrentThreadName(const std::string& name);

}  // namespace shardcast
