// A queue bounded in bytes between two pipeline stages: the producer waits
// while it is full (backpressure, never unbounded buffering). An item larger
// than the whole bound is admitted when the queue is empty, so one oversized
// transaction cannot wedge the pipeline.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

namespace shardcast {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity_bytes) : capacity_(capacity_bytes) {}

  // Waits up to timeout for room. Returns false on timeout or when closed
  // (the item is not taken), so the caller can do other work (keepalives).
  bool PushFor(T item, std::size_t bytes, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!not_full_.wait_for(lock, timeout, [&] { return closed_ || HasRoom(bytes); })) return false;
    if (closed_) return false;
    bytes_ += bytes;
    items_.emplace_back(std::move(item), bytes);
    // Wake the consumer only when it may be sleeping: waking a thread on the
    // other CPU per item is what costs most on a small machine.
    if (consumer_waiting_) not_empty_.notify_one();
    return true;
  }

  // Takes up to max_items and max_bytes (at least one item) waiting up to
  // timeout for the first. Returns an empty vector on timeout or when closed
  // and drained. The byte bound matters for memory: what a consumer took is
  // no longer counted here but is still alive until it is done with it.
  std::vector<T> PopBatch(std::size_t max_items, std::chrono::milliseconds timeout,
                          std::size_t max_bytes = static_cast<std::size_t>(-1)) {
    std::vector<T> out;
    std::unique_lock lock(mu_);
    consumer_waiting_ = true;
    not_empty_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
    consumer_waiting_ = false;
    std::size_t freed = 0;
    while (!items_.empty() && out.size() < max_items &&
           (out.empty() || freed + items_.front().second <= max_bytes)) {
      freed += items_.front().second;
      out.push_back(std::move(items_.front().first));
      items_.pop_front();
    }
    bytes_ -= freed;
    if (freed > 0) not_full_.notify_all();
    return out;
  }

  // Wakes everyone; pushes fail from now on, pops drain what is left.
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_full_.notify_all();
    not_empty_.notify_all();
  }

  // Drops everything queued (a destination that went down: replay covers it).
  void Clear() {
    std::lock_guard lock(mu_);
    items_.clear();
    bytes_ = 0;
    not_full_.notify_all();
  }

  std::size_t bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
  }
  bool empty() const {
    std::lock_guard lock(mu_);
    return items_.empty();
  }

 private:
  bool HasRoom(std::size_t bytes) const { return items_.empty() || bytes_ + bytes <= capacity_; }

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<std::pair<T, std::size_t>> items_;
  std::size_t bytes_ = 0;
  bool closed_ = false;
  bool consumer_waiting_ = false;
};

}  // namespace shardcast
