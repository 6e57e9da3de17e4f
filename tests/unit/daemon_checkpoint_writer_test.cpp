// The checkpoint thread (daemon/checkpoint_writer.h): a position is confirmed
// only after the write that records it succeeded, a failed write confirms
// nothing and fails every later call, and Flush waits for what was handed over.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/checkpoint_writer.h"

namespace shardcast {
namespace {

using Progress = std::map<std::string, Lsn>;

// Records saves and confirmations in the order they happen; a save can be
// held (to see what the reader does meanwhile) or made to fail.
struct Recorder {
  std::mutex mu;
  std::vector<std::string> events;
  Progress saved;
  std::promise<void> entered;
  std::shared_future<void> release;  // valid: the next save waits for it
  bool fail_next = false;

  Status Save(const Progress& changed) {
    std::shared_future<void> wait;
    {
      std::lock_guard lock(mu);
      wait = release;
      release = {};
    }
    if (wait.valid()) {
      entered.set_value();
      wait.wait();
    }
    std::lock_guard lock(mu);
    if (fail_next) {
      events.push_back("save failed");
      return IoError("disk full");
    }
    std::string e = "save";
    for (const auto& [id, lsn] : changed) {
      e += " " + id + "=" + std::to_string(lsn);
      saved[id] = lsn;
    }
    events.push_back(e);
    return Status::Ok();
  }
  void Confirm(Lsn lsn) {
    std::lock_guard lock(mu);
    events.push_back("confirm " + std::to_string(lsn));
  }
  std::vector<std::string> Events() {
    std::lock_guard lock(mu);
    return events;
  }
};

CheckpointWriter MakeWriter(Recorder& r) {
  return CheckpointWriter([&r](const Progress& p) { return r.Save(p); }, [&r](Lsn lsn) { r.Confirm(lsn); });
}

TEST(CheckpointWriter, ConfirmsOnlyAfterTheSaveThatRecordsIt) {
  Recorder r;
  std::promise<void> go;
  r.release = go.get_future().share();
  auto entered = r.entered.get_future();
  CheckpointWriter w = MakeWriter(r);
  ASSERT_TRUE(w.Start().ok());

  // Submit does not wait for a slow write.
  const auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(w.Submit({{"s0", 100}, {"kafka", 90}}, 90).ok());
  entered.wait();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2));
  // While the write is held: nothing confirmed yet; newer requests merge.
  ASSERT_TRUE(w.Submit({{"s0", 120}}, 95).ok());
  ASSERT_TRUE(w.Submit({{"kafka", 130}}, 120).ok());
  EXPECT_EQ(r.Events(), std::vector<std::string>{});
  go.set_value();
  ASSERT_TRUE(w.Flush().ok());
  EXPECT_EQ(r.Events(), (std::vector<std::string>{"save kafka=90 s0=100", "confirm 90",
                                                  "save kafka=130 s0=120", "confirm 120"}));
}

TEST(CheckpointWriter, FailedSaveConfirmsNothingAndFailsLaterCalls) {
  Recorder r;
  r.fail_next = true;
  CheckpointWriter w = MakeWriter(r);
  ASSERT_TRUE(w.Start().ok());
  ASSERT_TRUE(w.Submit({{"s0", 100}}, 100).ok());
  Status flushed = w.Flush();
  EXPECT_EQ(flushed.code(), Code::kIoError) << flushed.ToString();
  EXPECT_EQ(w.Submit({{"s0", 200}}, 200).code(), Code::kIoError);
  EXPECT_EQ(r.Events(), std::vector<std::string>{"save failed"});
}

TEST(CheckpointWriter, WritesPendingOnStopAndInlineWithoutThread) {
  Recorder r;
  {
    CheckpointWriter w = MakeWriter(r);
    ASSERT_TRUE(w.Submit({{"s0", 7}}, 7).ok());
    ASSERT_TRUE(w.Flush().ok());  // not started: written by the caller
    ASSERT_TRUE(w.Start().ok());
    ASSERT_TRUE(w.Submit({{"s0", 8}}, 0).ok());  // 0: nothing to confirm
  }                                              // the destructor writes what is pending
  EXPECT_EQ(r.Events(), (std::vector<std::string>{"save s0=7", "confirm 7", "save s0=8"}));
}

}  // namespace
}  // namespace shardcast
