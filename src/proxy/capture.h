// The capture half's knobs beyond CaptureOptions, and a small in-memory
// VerificationMarks for tests and for running without a state store.
// make_capture(opts, log, marks) in write_capture.h uses the defaults below.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "log/log.h"
#include "proxy/write_capture.h"

namespace tandem::proxy {

struct CaptureTuning {
  // Spill journal factory; default: file log in CaptureOptions::spill_dir.
  std::function<Result<std::unique_ptr<log::Log>>()> open_spill;
  std::chrono::milliseconds spill_deadline{5000};
  std::chrono::milliseconds probe_interval{1000};
  // Async mode releases the client before the log acknowledges, up to this
  // many unsettled events; past it, clients wait as in sync mode
  // (backpressure instead of unbounded memory).
  size_t max_async_window = 100000;
  // abandon(): reconcile now, and once more after this grace period (a
  // request that timed out may still be applied by the primary later);
  // only then are its intents closed.
  std::chrono::milliseconds abandon_grace{60000};
  bool sync_intents = true;  // fdatasync intents before forwarding
};

Result<std::unique_ptr<WriteCapture>> make_capture(const CaptureOptions& opts, log::Log* log,
                                                   VerificationMarks* marks,
                                                   const CaptureTuning& tuning);

// Thread-safe in-memory marks.
class MemoryMarks final : public VerificationMarks {
 public:
  Status mark(const IndexName& index, std::string_view reason) override {
    MutexLock lk(mu_);
    marks_.emplace_back(index.get(), std::string(reason));
    return Status::ok();
  }
  std::vector<std::pair<std::string, std::string>> marks() const {
    MutexLock lk(mu_);
    return marks_;
  }

 private:
  mutable Mutex mu_;
  std::vector<std::pair<std::string, std::string>> marks_ TANDEM_GUARDED_BY(mu_);
};

}  // namespace tandem::proxy
