// Which primary -> secondary moves tandem supports, and the refusal for the
// rest. tandem copies documents (not segments), so Elasticsearch 6.8 can go
// straight to 8.x; what limits a pair is what tandem can read and transform:
// _seq_no on every hit (6.7+), one mapping type per index (6.x), and a
// metadata transform table for the target's flavor.
#include <string>

#include "meta/meta.h"

namespace tandem::meta {
namespace {

std::string name(const es::ClusterInfo& c) {
  return std::string(es::flavor_name(c.flavor)) + " " + c.version.to_string();
}

constexpr const char* kPossible =
    "tandem supports Elasticsearch 6.8+ -> the same or a later Elasticsearch (6.8 -> 8.x in "
    "one hop), Elasticsearch 6.8-8.x -> OpenSearch 2.x/3.x, and OpenSearch 1.3+ -> the same or "
    "a later OpenSearch";

Status refuse(const es::ClusterInfo& from, const es::ClusterInfo& to, const std::string& why,
              const std::string& instead) {
  return Status(Code::kFailedPrecondition, "unsupported move " + name(from) + " -> " + name(to) +
                                               ": " + why + ". " + instead + " (" + kPossible +
                                               ")");
}

}  // namespace

Status check_pair(const es::ClusterInfo& from, const es::ClusterInfo& to) {
  const bool from_os = from.flavor == es::Flavor::kOpenSearch;
  const bool to_os = to.flavor == es::Flavor::kOpenSearch;
  if (!from_os && from.version < es::Version{6, 8, 0}) {
    return refuse(from, to,
                  "Elasticsearch before 6.8 is not supported (5.x allows several mapping types "
                  "per index; before 6.7 search hits carry no _seq_no, which tandem's versions "
                  "come from)",
                  "Upgrade blue in place to 6.8 first (a rolling upgrade), then move 6.8 -> " +
                      name(to) + " with tandem");
  }
  if (from_os && from.version < es::Version{1, 3, 0}) {
    return refuse(from, to, "OpenSearch before 1.3 is not supported",
                  "Upgrade blue in place to 1.3 or later first");
  }
  if (from_os && !to_os) {
    return refuse(from, to,
                  "OpenSearch -> Elasticsearch is not supported (OpenSearch-only field types, "
                  "settings and plugins have no Elasticsearch equivalent in tandem's tables)",
                  "Move to a later OpenSearch instead");
  }
  if (!from_os && to_os) {
    if (from.version.major >= 9) {
      return refuse(from, to,
                    "Elasticsearch 9.x -> OpenSearch is not supported (9.x metadata has no "
                    "OpenSearch transform table yet)",
                    "Stay on Elasticsearch, or move from 8.x");
    }
    if (to.version.major < 2) {
      return refuse(from, to, "OpenSearch 1.x as a target is not supported",
                    "Target OpenSearch 2.x or 3.x");
    }
    return Status::ok();
  }
  if (to.version < from.version) {
    return refuse(from, to,
                  "this is a downgrade (the secondary is older than the primary); an older "
                  "cluster may refuse the newer one's mappings and settings",
                  "Pick a green of version " + from.version.to_string() +
                      " or later (rollback to the older side exists after a cutover, through "
                      "reverse replication)");
  }
  return Status::ok();
}

}  // namespace tandem::meta
