// Backfill progress: a bar per index on a terminal, structured key=value
// lines otherwise (logs, CI), e.g.
//   backfill index=products slices=2/4 docs=12000/50000 rate=8000/s eta=5s
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/mutex.h"

namespace tandem::backfill {

struct IndexProgress {
  std::string index;
  uint64_t total = 0;
  int slices = 1;
  std::atomic<uint64_t> docs{0};           // includes docs of resumed checkpoints
  std::atomic<uint64_t> docs_this_run{0};  // for the rate
  std::atomic<int> slices_done{0};
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  std::chrono::steady_clock::time_point t0;
};

// "12000/50000 rate=8000/s eta=5s" pieces, exposed for tests.
std::string format_eta(double seconds);
std::string progress_line(const IndexProgress& p, double elapsed_s);
std::string progress_bar(const IndexProgress& p, double elapsed_s, int width);

// Renders all active indices; on a TTY redraws the block in place.
class ProgressPrinter {
 public:
  ProgressPrinter(bool tty, std::function<void(std::string_view)> out)
      : tty_(tty), out_(std::move(out)) {}
  void render(const std::vector<IndexProgress*>& all, bool final_render);

 private:
  bool tty_;
  std::function<void(std::string_view)> out_;
  Mutex mu_;  // one render at a time
  int drawn_lines_ TANDEM_GUARDED_BY(mu_) = 0;
};

}  // namespace tandem::backfill
