// Retry policy shared by the loader and the backfill: which answers from the
// secondary are worth retrying, which are "already there", which are a
// permanent verdict on one document, and how long to wait between tries.
//
// Classification of one _bulk item (versioned index/delete):
//   2xx                               -> kDone
//   404 delete, no error (not_found)  -> kDone (a versioned tombstone is left)
//   409 version conflict              -> kAlreadyNewer (a newer-or-equal state
//                                        is there: Invariant 1 makes it success)
//   404 index_not_found_exception     -> kIndexMissing (create, then retry)
//   429, 5xx, 408, cluster_block_exception (e.g. flood-stage disk block)
//                                     -> kRetry (exponential backoff, never drop)
//   any other 4xx (mapper_parsing_exception, illegal_argument ...)
//                                     -> kPermanent (dead letter; blocks nothing)
#pragma once

#include <chrono>
#include <random>

#include "core/status.h"
#include "es/es.h"

namespace tandem::load {

enum class ItemClass { kDone, kAlreadyNewer, kIndexMissing, kRetry, kPermanent };
std::string_view item_class_name(ItemClass c);

ItemClass classify_item(const es::BulkItem& item);

// Whole-request failures (no per-item answer): transport errors (refused,
// reset, timeout) and 429/5xx answers are retried; everything else is not.
bool is_retryable(const Status& s);

// Exponential backoff with "equal jitter": attempt n waits
// d/2 + U[0, d/2] with d = min(max, initial * 2^n). Jitter spreads many
// loaders hitting one overloaded cluster; the floor of d/2 keeps the wait
// growing so a 429 storm really backs off.
struct BackoffPolicy {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{30000};
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy p, uint64_t seed = std::random_device{}()) : p_(p), rng_(seed) {}
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  BackoffPolicy p_;
  std::mt19937_64 rng_;
  int attempt_ = 0;
};

}  // namespace tandem::load
