#include "common/thread_util.h"

#include <pthread.h>

#include <system_error>

namespace shardcast {

void SetCurrentThreadName(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

StatusOr<std::thread> StartThread(const std::string& name, std::function<void()> body) {
  try {
    return std::thread([name, body = std::move(body)] {
      SetCurrentThreadName(name);
      body();
    });
  } catch (const std::system_error& e) {
    return Internal("starting thread " + name + ": " + e.what());
  }
}

}  // namespace shardcast
