// The state store: tandem's small, transactional memory on one machine --
// backfill checkpoints, the epoch and phase, dead letters and "index needs
// verification" marks. SQLite in WAL mode with synchronous=FULL, so a
// committed call survives kill -9 and power loss.
//
// A corrupt or foreign file is refused with a message naming the path
// (never silently recreated: that would forget checkpoints and dead letters).
// Thread-safe: one connection guarded by a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"

namespace tandem::state {

struct DeadLetter {
  int64_t id = 0;             // assigned by the store
  std::string source;         // "load" / "backfill"
  IndexName index;
  DocId doc_id;
  std::string event;          // the encoded change event (event::encode)
  std::string error_type;     // e.g. mapper_parsing_exception
  std::string error_reason;
  int64_t created_ms = 0;
  int attempts = 1;
};

struct VerifyMark {
  IndexName index;
  std::string reason;
  int64_t created_ms = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Generic small values (epoch, phase, log end marks ...).
  virtual Status put(std::string_view key, std::string_view value) = 0;
  virtual Result<std::optional<std::string>> get(std::string_view key) = 0;
  // Atomic compare-and-set across processes: writes `value` only if the key
  // currently holds `expected` (nullopt: the key is absent) and says whether
  // it did. The migration's cutover lock is built on it.
  virtual Result<bool> compare_and_put(std::string_view key,
                                       std::optional<std::string_view> expected,
                                       std::string_view value) = 0;

  // Backfill checkpoints: one opaque JSON state per (job, index, slice).
  virtual Status save_checkpoint(std::string_view job, const IndexName& index, int slice,
                                 std::string_view state_json) = 0;
  virtual Result<std::optional<std::string>> load_checkpoint(std::string_view job,
                                                             const IndexName& index,
                                                             int slice) = 0;

  // Dead letters.
  virtual Result<int64_t> add_dead_letter(const DeadLetter& d) = 0;
  virtual Result<std::vector<DeadLetter>> dead_letters(size_t limit = 1000) = 0;
  virtual Status remove_dead_letter(int64_t id) = 0;
  virtual Result<int64_t> count_dead_letters() = 0;

  // Indices that need verification (auto-id captures, allowed multi-doc
  // operations, suspected resurrection).
  virtual Status mark_needs_verify(const IndexName& index, std::string_view reason) = 0;
  virtual Result<std::vector<VerifyMark>> needs_verify() = 0;
  virtual Status clear_needs_verify(const IndexName& index) = 0;
};

Result<std::unique_ptr<Store>> open_store(const std::string& path);

}  // namespace tandem::state
