// Strong types for the identifiers tandem moves around. An index name can't
// be passed where a document id is expected, nor an offset where a seq_no is
// (Redpanda's named_type habit).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

namespace tandem {

template <typename T, typename Tag>
class Strong {
 public:
  using value_type = T;
  constexpr Strong() = default;
  constexpr explicit Strong(T v) : v_(std::move(v)) {}
  constexpr const T& get() const { return v_; }
  constexpr T& get() { return v_; }
  auto operator<=>(const Strong&) const = default;
  bool operator==(const Strong&) const = default;

 private:
  T v_{};
};

using IndexName = Strong<std::string, struct IndexNameTag>;
using DocId = Strong<std::string, struct DocIdTag>;  // raw bytes, may be non-UTF-8
using SeqNo = Strong<int64_t, struct SeqNoTag>;      // primary's _seq_no, >= 0
using PrimaryTerm = Strong<int64_t, struct PrimaryTermTag>;
using Epoch = Strong<uint32_t, struct EpochTag>;     // bumps at every cutover/rollback
using Partition = Strong<int32_t, struct PartitionTag>;
using Offset = Strong<int64_t, struct OffsetTag>;    // position within a partition

// Invariant 1 (see docs/architecture.md): the version tandem writes to the
// secondary with version_type=external. Epoch dominates, so writes after a
// cutover beat everything before it; within an epoch the primary's seq_no
// orders operations on one document.
constexpr uint64_t kSeqNoBits = 48;
constexpr int64_t kMaxSeqNo = (int64_t{1} << kSeqNoBits) - 2;
inline uint64_t external_version(Epoch epoch, SeqNo seq_no) {
  return (static_cast<uint64_t>(epoch.get()) << kSeqNoBits) |
         static_cast<uint64_t>(seq_no.get() + 1);
}

}  // namespace tandem

template <typename T, typename Tag>
struct std::hash<tandem::Strong<T, Tag>> {
  size_t operator()(const tandem::Strong<T, Tag>& s) const noexcept {
    return std::hash<T>{}(s.get());
  }
};
