// The file log's one read loop, used by every reader of the segment format:
// the writer's own consumers (file_log.cc), shared readers in other
// processes (file_log_reader.cc) and recovery on open. What differs between
// them -- how far they may read, where the segments are, what an offset
// deleted by retention means -- is a ReadSource. docs/file-log-format.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "log/file_log_io.h"
#include "log/log.h"

namespace tandem::log::detail {

using SegmentFilePtr = std::shared_ptr<SegmentFile>;

// A read position in one partition: the segment and byte position of the
// record with offset `at`, the next offset to hand out, and a read-ahead
// buffer.
struct ReadCursor {
  SegmentFilePtr seg;
  uint64_t pos = 0;  // byte position of the record with offset `at`
  int64_t at = 0;
  int64_t next = 0;  // next offset to hand out
  std::string buf;
  uint64_t buf_pos = 0;
  // The source's final end loaded just before buf was read: records below
  // it were complete and final when the bytes were read. -1: unknown.
  int64_t buf_mark = -1;

  void invalidate() {
    seg.reset();
    buf.clear();
  }
};

// What a read loop needs to know about a partition: how far it may read and
// where the segments are. The read loop itself (read_part) is the same for
// every reader; only these answers differ.
class ReadSource {
 public:
  virtual ~ReadSource() = default;
  // The offset below which p's records are complete and final (they were
  // fdatasync'd before the mark was stored), or -1 when unknown: then the
  // tolerant torn-tail rules apply.
  virtual int64_t final_end(int32_t p) = 0;
  // The open segment holding `offset` (the last one whose base is <= it).
  virtual Result<SegmentFilePtr> segment_for(int32_t p, int64_t offset) = 0;
  // The base of the first segment after `base`, or -1 if there is none.
  virtual Result<int64_t> base_after(int32_t p, int64_t base) = 0;
  // The oldest offset still in the log (the oldest segment's base).
  virtual Result<int64_t> oldest(int32_t p) = 0;
  // `offset` was deleted by retention (the oldest retained is `oldest`):
  // the offset to continue from, or the error to report.
  virtual Result<int64_t> deleted(int32_t p, int64_t offset, int64_t oldest) = 0;
};

// Reads up to `max` records at or after c.next from partition p into `out`;
// with out == nullptr only advances (a shared reader's tolerant end scan,
// recovery). Returns ok with nothing more when it reaches what is not (yet)
// readable; then c.pos/c.at are the end of the good records read so far.
// The rules (docs/file-log-format.md): below a known final end every record
// must be complete, checksummed and carry the expected offset, else
// kCorruption naming file and byte, and the cursor stays on it; bytes at or
// past it are never returned, and the buffer is re-read for records that
// were not final when it was filled. With no known end (-1), a damaged or
// incomplete record running to the end of the last segment, or followed
// only by zeros, is a tail not written yet; the same before a later segment
// or with data after it is kCorruption.
Status read_part(ReadSource& core, int32_t p, ReadCursor& c, size_t max, std::vector<Record>* out);

// One round-robin pass of a consumer's poll over every partition, starting
// at *rr (advanced by one for the next pass, so one busy partition cannot
// starve the rest; order within a partition is offset order), until `out`
// holds `max` records. On a read error the records already taken advanced
// their cursors and stay in `out`; when there are any, the error goes to
// *pending (the consumer reports it on its next poll, so nothing is skipped
// silently) and the pass returns ok; else it returns the error. Either way
// the failing cursor stays on the bad record.
Status poll_round_robin(ReadSource& core, std::vector<ReadCursor>& cursors, size_t* rr, size_t max,
                        std::vector<Record>* out, Status* pending);

}  // namespace tandem::log::detail
