// Write-ahead intents: before a write is forwarded to the primary, the
// (index, id, routing) of every item it touches is made durable here; when
// its events are durable, a "done" record closes it. After a crash, every
// intent without "done" is a write that may have been applied without its
// event reaching the log: capture turns it into a reconcile event.
//
// File: <intents_dir>/intents.journal, append-only, held with flock so two
// proxies can't share it. Records (little endian):
//   u32 payload_length | u32 crc32(payload) | payload
//   payload = u8 kind | u64 request_id | fields
//     'I' intent:  str index | str id | u8 has_routing | [str routing]
//     'A' auto-id: str index            (item without an id at forward time)
//     'D' done:    (no fields)
//   str = u32 length | bytes (ids are raw bytes, any value)
// A torn or corrupt tail (crash mid-write) ends the journal: everything
// before it is read, the rest is cut off on open.
//
// Group commit: begin()/begin_async() write their records, then a sync
// thread runs one fdatasync for every record written so far and completes
// all the requests it covers. done() records are not
// synced: losing one only causes a redundant reconcile after a crash.
// When the file grows past compact_bytes, it is rewritten with only the open
// intents (temp file, fsync, rename, fsync of the directory).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/types.h"

namespace tandem::proxy {

struct Intent {
  IndexName index;
  std::optional<DocId> id;  // absent: auto-generated id
  std::optional<std::string> routing;
  bool operator==(const Intent&) const = default;
};

struct IntentsOptions {
  std::string dir;
  uint64_t compact_bytes = 64ull << 20;
  bool sync = true;  // fdatasync before begin() returns (tests may turn off)
};

class IntentJournal {
 public:
  // Opens (creating) the journal. `recovered` receives the intents a
  // previous process left open; the journal keeps them until reset().
  static Result<std::unique_ptr<IntentJournal>> open(const IntentsOptions& opts,
                                                     std::vector<Intent>* recovered);
  virtual ~IntentJournal() = default;

  // Durable before it returns. The id closes the intents with done().
  virtual Result<uint64_t> begin(const std::vector<Intent>& intents) = 0;
  // The same without blocking the caller: the records are written now, and
  // `done` runs once an fdatasync covers them, on the journal's sync thread
  // (inline when no sync is needed or the write failed). The proxy's I/O
  // threads use this so an fdatasync never stalls other connections.
  using BeginCallback = std::function<void(Result<uint64_t>)>;
  virtual void begin_async(const std::vector<Intent>& intents, BeginCallback done) = 0;
  virtual void done(uint64_t request_id) = 0;
  // The intents of one open request (for abandon()).
  virtual std::vector<Intent> intents_of(uint64_t request_id) const = 0;
  virtual size_t open_requests() const = 0;
  virtual size_t open_intents() const = 0;
  // Drops everything recovered at open (after their reconcile events are
  // durable) and compacts the file down to the requests opened since.
  virtual Status reset_recovered() = 0;
  virtual std::string path() const = 0;
};

}  // namespace tandem::proxy
