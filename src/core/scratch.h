// Per-thread scratch objects: the simdjson parsers and padded copies that
// hot paths keep in a thread_local so that parsing a small input allocates
// nothing. Left alone, such an object keeps the size of the largest input
// its thread ever parsed (a parser holds about 6 bytes per input byte), for
// the life of the thread: every loader and backfill thread held the scratch
// of its largest _bulk answer, and one rare huge input would be held for
// good (docs/benchmarks.md, "Issue 12 as a whole").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace tandem {

// The largest input a thread keeps scratch for, in input bytes. Above it,
// the storage is released after use and the next large input allocates its
// own. 256 KiB keeps the common answers on the proxy's request path
// allocation-free: a _bulk answer runs about 150-220 bytes an item, so
// client bulks of up to about 1,000 items, and every ordinary document. The
// loader's and backfill's own answers (2,000 items by default, about
// 330 KB) are above it: one allocation per 2,000 documents written costs
// them nothing measurable, while keeping them cost 10-15 MB of peak RSS
// (docs/benchmarks.md, "Issue 12 as a whole"). A parser kept at this size
// holds about 1.5 MB.
inline constexpr size_t kScratchKeepBytes = 256 * 1024;

// The input bytes a scratch object is sized for. A simdjson parser's
// capacity is counted in input bytes. A std::string grows geometrically, so
// one that last held n bytes may have a capacity of up to 2n: measured by
// its capacity, a 215 KB answer's padded copy would count as 430 KB and be
// released after every answer (bench/bulk_response_bench at 1,000 items).
template <typename T>
size_t scratch_input_bytes(const T& scratch) {
  return scratch.capacity();
}
inline size_t scratch_input_bytes(const std::string& s) {
  return s.capacity() / 2;
}

// Releases `scratch`'s storage when it is sized for more than `keep` input
// bytes: it is swapped with a fresh object, which allocates on first use.
// Assigning an empty object is not enough: a std::string move-assigned from
// a short string keeps its own buffer.
template <typename T>
void release_scratch_above(T& scratch, size_t keep = kScratchKeepBytes) {
  if (scratch_input_bytes(scratch) <= keep) return;
  T fresh;
  std::swap(scratch, fresh);
}

// Copies `input` into the per-thread `buf` with at least `padding` readable
// bytes after it (simdjson's ondemand parser reads up to
// simdjson::SIMDJSON_PADDING past the end), reusing buf's capacity.
// Returns how many bytes from buf.data() may be read: the capacity to give
// the parser.
inline size_t padded_copy(std::string& buf, std::string_view input, size_t padding) {
  buf.assign(input);
  buf.reserve(input.size() + padding);
  return buf.capacity();
}

// Calls release_scratch_above on scope exit, whichever way the scope is
// left. Declare it before anything that points into the scratch (a
// simdjson document), so it runs after those are gone.
template <typename T>
class ScratchBound {
 public:
  explicit ScratchBound(T& scratch, size_t keep = kScratchKeepBytes)
      : scratch_(scratch), keep_(keep) {}
  ~ScratchBound() { release_scratch_above(scratch_, keep_); }
  ScratchBound(const ScratchBound&) = delete;
  ScratchBound& operator=(const ScratchBound&) = delete;

 private:
  T& scratch_;
  size_t keep_;
};

}  // namespace tandem
