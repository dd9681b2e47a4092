// The file log's one read loop: file_log_read.h.
#include "log/file_log_read.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "log/file_log_format.h"

namespace tandem::log::detail {
namespace {

namespace fmt = file_log_format;

constexpr size_t kReadChunkBytes = 1u << 20;

// Makes [pos, pos+n) available in c.buf if the file has it; *avail is what
// is there from pos (less than n at end of file). *fresh: bytes were read
// now rather than served from the buffer.
Status fill(ReadCursor& c, uint64_t pos, size_t n, int64_t mark, size_t* avail, bool* fresh) {
  if (pos >= c.buf_pos && pos + n <= c.buf_pos + c.buf.size()) {
    *avail = c.buf_pos + c.buf.size() - pos;
    return Status::ok();
  }
  *fresh = true;
  const size_t want = std::max(n, kReadChunkBytes);
  c.buf.resize(want);
  size_t got = 0;
  Status s = pread_full(c.seg->fd, c.seg->path, c.buf.data(), want, pos, &got);
  c.buf.resize(got);
  c.buf_pos = pos;
  c.buf_mark = mark;
  if (!s.is_ok()) {
    c.buf.clear();
    return s;
  }
  *avail = got;
  return Status::ok();
}

Result<uint64_t> file_size(const SegmentFile& seg) {
  struct stat st;
  if (::fstat(seg.fd, &st) != 0) return io_error(seg.path, "stat", errno);
  return static_cast<uint64_t>(st.st_size);
}

// Tolerant mode: is the damage at `pos` a tail still being written (the
// record runs to the end of the file, or only zeros follow)?
Result<bool> looks_torn(const SegmentFile& seg, uint64_t pos, uint64_t after) {
  TANDEM_ASSIGN_OR_RETURN(uint64_t size, file_size(seg));
  if (after >= size) return true;
  std::string tmp(static_cast<size_t>(std::min<uint64_t>(size - pos, kReadChunkBytes)), '\0');
  for (uint64_t q = after; q < size;) {
    size_t got = 0;
    size_t n = static_cast<size_t>(std::min<uint64_t>(size - q, tmp.size()));
    TANDEM_RETURN_IF_ERROR(pread_full(seg.fd, seg.path, tmp.data(), n, q, &got));
    if (got == 0) break;
    if (!all_zero(tmp.data(), got)) return false;
    q += got;
  }
  return true;
}

const char* parse_error_text(fmt::ParseStatus st) {
  switch (st) {
    case fmt::ParseStatus::kBadLength:
      return "bad record length";
    case fmt::ParseStatus::kBadCrc:
      return "checksum mismatch";
    case fmt::ParseStatus::kBadKeyLen:
      return "bad key length";
    default:
      return "incomplete record";
  }
}

}  // namespace

// Reads up to `max` records at or after c.next from partition p into `out`;
// with out == nullptr only advances (the tolerant end scan). Returns ok with
// nothing more when it reaches what is not (yet) readable.
Status read_part(ReadSource& core, int32_t p, ReadCursor& c, size_t max, std::vector<Record>* out) {
  size_t produced = 0;
  while (produced < max) {
    const int64_t mark = core.final_end(p);
    const bool published = mark >= 0;
    if (published && c.next >= mark) return Status::ok();
    if (!c.seg || c.next < c.at) {
      TANDEM_ASSIGN_OR_RETURN(int64_t oldest, core.oldest(p));
      if (c.next < oldest) {
        TANDEM_ASSIGN_OR_RETURN(c.next, core.deleted(p, c.next, oldest));
      }
      TANDEM_ASSIGN_OR_RETURN(c.seg, core.segment_for(p, c.next));
      c.buf.clear();
      c.pos = 0;
      c.at = c.seg->base;
    }
    if (published && c.at >= mark) return Status::ok();
    // Bytes read before this record was published may be stale (a batch
    // cut off after a failed write, then rewritten): read them again.
    if (published && c.at >= c.buf_mark) c.buf.clear();

    bool fresh = false;
    size_t avail = 0;
    fmt::ParsedRecord rec;
    size_t need = 0;
    fmt::ParseStatus st = fmt::ParseStatus::kNeedMore;
    auto run_parse = [&]() -> Status {
      TANDEM_RETURN_IF_ERROR(fill(c, c.pos, fmt::kHeaderBytes, mark, &avail, &fresh));
      st = fmt::ParseStatus::kNeedMore;
      if (avail == 0) return Status::ok();
      st = fmt::parse_record(c.buf.data() + (c.pos - c.buf_pos), avail, &rec, &need);
      if (st == fmt::ParseStatus::kNeedMore && need > avail) {
        TANDEM_RETURN_IF_ERROR(fill(c, c.pos, need, mark, &avail, &fresh));
        st = fmt::parse_record(c.buf.data() + (c.pos - c.buf_pos), avail, &rec, &need);
      }
      return Status::ok();
    };
    TANDEM_RETURN_IF_ERROR(run_parse());
    if (st != fmt::ParseStatus::kOk && !fresh) {
      // Judge failures on bytes read now, not on an old buffer.
      c.buf.clear();
      TANDEM_RETURN_IF_ERROR(run_parse());
    }

    if (avail == 0) {
      // At a record boundary with nothing after it in this segment.
      TANDEM_ASSIGN_OR_RETURN(int64_t nb, core.base_after(p, c.seg->base));
      if (nb < 0) {
        if (!published) return Status::ok();  // not written yet
        return corruption(c.seg->path, c.pos,
                          "the writer published offsets below " + std::to_string(mark) +
                              " but the log ends at offset " + std::to_string(c.at));
      }
      if (nb != c.at) {
        if (!published) {
          // The writer may have appended here before rolling: look again.
          TANDEM_ASSIGN_OR_RETURN(uint64_t size, file_size(*c.seg));
          if (size > c.pos) continue;
        }
        TANDEM_ASSIGN_OR_RETURN(int64_t oldest, core.oldest(p));
        if (c.at < oldest) {
          // The rest of this segment's successor is gone too: continue
          // where the source says, or report it.
          TANDEM_ASSIGN_OR_RETURN(int64_t to, core.deleted(p, c.at, oldest));
          c.next = std::max(c.next, to);
          c.invalidate();
          continue;
        }
        return corruption(c.seg->path, c.pos,
                          "segment ends at offset " + std::to_string(c.at) +
                              " but the next segment starts at " + std::to_string(nb));
      }
      TANDEM_ASSIGN_OR_RETURN(c.seg, core.segment_for(p, c.at));
      if (c.seg->base != c.at) {
        return corruption(c.seg->path, 0,
                          "expected a segment starting at offset " + std::to_string(c.at));
      }
      c.buf.clear();
      c.pos = 0;
      continue;
    }
    if (st != fmt::ParseStatus::kOk) {
      if (!published) {
        // Tolerant: a tail still being written is "not yet"; the same bytes
        // before a later segment, or followed by data, are damage.
        TANDEM_ASSIGN_OR_RETURN(int64_t nb, core.base_after(p, c.seg->base));
        uint64_t after = c.pos;
        if (st == fmt::ParseStatus::kNeedMore) {
          after = std::numeric_limits<uint64_t>::max();
        } else if (st == fmt::ParseStatus::kBadCrc) {
          uint32_t len;
          std::memcpy(&len, c.buf.data() + (c.pos - c.buf_pos), 4);
          after = c.pos + fmt::kHeaderBytes + len;
        }
        if (nb < 0) {
          TANDEM_ASSIGN_OR_RETURN(bool torn, looks_torn(*c.seg, c.pos, after));
          if (torn) {
            c.buf.clear();  // read it afresh next time
            return Status::ok();
          }
        }
        return corruption(
            c.seg->path, c.pos,
            std::string(parse_error_text(st)) + " at offset " + std::to_string(c.at) +
                (nb >= 0 ? " at the end of a sealed segment" : " with data after it"));
      }
      return corruption(c.seg->path, c.pos,
                        std::string(parse_error_text(st)) + " at offset " + std::to_string(c.at) +
                            ", below the writer's published end " + std::to_string(mark));
    }
    if (rec.offset != c.at) {
      return corruption(
          c.seg->path, c.pos,
          "record has offset " + std::to_string(rec.offset) + ", expected " + std::to_string(c.at));
    }
    if (c.at >= c.next) {
      if (out != nullptr) {
        out->push_back(
            Record{Partition(p), Offset(rec.offset), std::string(rec.key), std::string(rec.value)});
      }
      ++produced;
      c.next = c.at + 1;
    }
    c.pos += rec.size;
    ++c.at;
  }
  return Status::ok();
}

Status poll_round_robin(ReadSource& core, std::vector<ReadCursor>& cursors, size_t* rr, size_t max,
                        std::vector<Record>* out, Status* pending) {
  const size_t n = cursors.size();
  if (n == 0) return Status::ok();
  for (size_t i = 0; i < n && out->size() < max; ++i) {
    const size_t p = (*rr + i) % n;
    Status s = read_part(core, static_cast<int32_t>(p), cursors[p], max - out->size(), out);
    if (!s.is_ok()) {
      if (out->empty()) return s;
      *pending = std::move(s);
      return Status::ok();
    }
  }
  *rr = (*rr + 1) % n;
  return Status::ok();
}

}  // namespace tandem::log::detail
