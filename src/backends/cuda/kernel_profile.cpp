#include "backends/cuda/kernel_profile.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "backends/cuda/driver.h"
#include "backends/cuda/stream.h"
#include "core/error.h"

namespace tritium::cuda {

namespace {

struct Pending {
  std::string name;
  Event* start = nullptr;
  Event* end = nullptr;
};

struct Totals {
  int64_t calls = 0;
  double ms = 0;
};

struct Profile {
  std::mutex mu;
  int device = 0;
  std::vector<Event*> free_events;  // never destroyed (static teardown may follow the driver's)
  std::vector<Pending> pending;
  Event* open = nullptr;  // the start event of the launch in flight
  std::map<std::string, Totals> totals;
  Event* first = nullptr;  // the first start event since the last reset (kept out of the free list)
  double span_ms = 0;      // from `first` to the last end event flushed

  Event* take(int dev) {
    if (free_events.empty()) return new Event(dev);
    Event* e = free_events.back();
    free_events.pop_back();
    return e;
  }
  void flush_locked() {
    if (pending.empty()) return;
    pending.back().end->synchronize();
    if (first) span_ms = std::max(span_ms, double(pending.back().end->elapsed_ms_since(*first)));
    for (auto& p : pending) {
      Totals& t = totals[p.name];
      ++t.calls;
      t.ms += double(p.end->elapsed_ms_since(*p.start));
      if (p.start != first) free_events.push_back(p.start);
      free_events.push_back(p.end);
    }
    pending.clear();
  }
};

Profile& prof() {
  static Profile* p = new Profile();
  return *p;
}

}  // namespace

namespace {
std::atomic<int> g_enabled{-1};  // -1: not read from the environment yet
}

bool kernel_profile_enabled() {
  int v = g_enabled.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* e = std::getenv("TRITIUM_KERNEL_PROFILE");
    v = e && *e && std::string(e) != "0" ? 1 : 0;
    g_enabled.store(v);
  }
  return v == 1;
}

bool kernel_profile_stream_capturing(StreamHandle stream) { return stream_is_capturing(stream); }

void kernel_profile_enable(bool on) { g_enabled.store(on ? 1 : 0); }

void kernel_profile_before(int device_index, StreamHandle stream) {
  Profile& p = prof();
  std::lock_guard<std::mutex> lk(p.mu);
  p.device = device_index;
  p.open = p.take(device_index);
  p.open->record(stream);
  if (!p.first) p.first = p.open;
}

void kernel_profile_after(const std::string& variant, StreamHandle stream) {
  Profile& p = prof();
  std::lock_guard<std::mutex> lk(p.mu);
  if (!p.open) return;
  Event* end = p.take(p.device);
  end->record(stream);
  p.pending.push_back({variant, p.open, end});
  p.open = nullptr;
  if (p.pending.size() >= 1024) p.flush_locked();
}

std::string kernel_profile_report() {
  Profile& p = prof();
  std::lock_guard<std::mutex> lk(p.mu);
  p.flush_locked();
  if (p.totals.empty()) return "";
  std::vector<std::pair<std::string, Totals>> rows(p.totals.begin(), p.totals.end());
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.ms > b.second.ms; });
  double all = 0;
  for (auto& r : rows) all += r.second.ms;
  std::string out = str_cat("[kernel profile] GPU time per kernel variant, graph replay and copy (events around "
                            "each), total ", all, " ms of the ", p.span_ms,
                            " ms from the first start to the last end (the rest: the device idle or between "
                            "launches)\n");
  char line[256];
  std::snprintf(line, sizeof line, "  %-56s %9s %11s %10s %6s\n", "kernel", "calls", "total ms", "avg us", "share");
  out += line;
  for (auto& [name, t] : rows) {
    std::snprintf(line, sizeof line, "  %-56s %9lld %11.3f %10.2f %5.1f%%\n", name.c_str(), (long long)t.calls, t.ms,
                  1e3 * t.ms / double(t.calls), 100.0 * t.ms / all);
    out += line;
  }
  return out;
}

void kernel_profile_reset() {
  Profile& p = prof();
  std::lock_guard<std::mutex> lk(p.mu);
  p.flush_locked();
  p.totals.clear();
  if (p.first) p.free_events.push_back(p.first);
  p.first = nullptr;
  p.span_ms = 0;
}

}  // namespace tritium::cuda
