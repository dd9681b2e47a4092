#include "apply/apply.h"

#include <algorithm>

namespace tandem::apply {

std::string_view item_class_name(ItemClass c) {
  switch (c) {
    case ItemClass::kDone:
      return "done";
    case ItemClass::kAlreadyNewer:
      return "already_newer";
    case ItemClass::kIndexMissing:
      return "index_missing";
    case ItemClass::kRetry:
      return "retry";
    case ItemClass::kPermanent:
      return "permanent";
  }
  return "?";
}

ItemClass classify_item(const es::BulkItem& item) {
  if (item.ok()) return ItemClass::kDone;
  if (item.version_conflict()) return ItemClass::kAlreadyNewer;
  if (item.status == 404) {
    if (item.error_type == "index_not_found_exception") return ItemClass::kIndexMissing;
    // A versioned delete of an absent document answers 404 "not_found"
    // without an error object, and still records the tombstone.
    if (item.error_type.empty() && item.op == "delete") return ItemClass::kDone;
    return ItemClass::kPermanent;
  }
  if (item.status == 429 || item.status == 408 || item.status >= 500) return ItemClass::kRetry;
  // Read-only / flood-stage blocks are lifted by an operator or by disk
  // space coming back; the document itself is fine, so wait.
  if (item.error_type == "cluster_block_exception") return ItemClass::kRetry;
  return ItemClass::kPermanent;
}

bool is_mapping_error(const es::BulkItem& item) {
  if (classify_item(item) != ItemClass::kPermanent) return false;
  const std::string& t = item.error_type;
  if (t == "strict_dynamic_mapping_exception" || t == "mapper_parsing_exception" ||
      t == "document_parsing_exception") {
    return true;
  }
  if (t != "illegal_argument_exception") return false;
  // e.g. "mapper [n] cannot be changed from type [long] to [float]",
  // "Limit of total fields [1000] has been exceeded", "... field [x] ...".
  const std::string& r = item.error_reason;
  return r.find("mapp") != std::string::npos || r.find("field") != std::string::npos;
}

bool is_retryable(const Status& s) {
  return es::is_transient(s);
}

std::chrono::milliseconds Backoff::next() {
  double d = static_cast<double>(p_.initial.count());
  for (int i = 0; i < attempt_ && d < static_cast<double>(p_.max.count()); ++i) d *= 2;
  auto cap = std::min<int64_t>(static_cast<int64_t>(d), p_.max.count());
  ++attempt_;
  int64_t half = cap / 2;
  std::uniform_int_distribution<int64_t> u(0, std::max<int64_t>(half, 0));
  return std::chrono::milliseconds(cap - half + u(rng_));
}

}  // namespace tandem::apply
