// Quick verification: see verify.h for the algorithm and its memory bound.
#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "verify/verify.h"

namespace tandem::verify {
namespace {

struct Expected {
  uint64_t version = 0;
  std::optional<std::string> routing;
};

// A difference seen by the scans, to be confirmed by GETs.
struct Candidate {
  DocId id;
  std::optional<std::string> routing;
};

size_t bucket_of(const std::string& id, size_t buckets) {
  return buckets <= 1 ? 0 : std::hash<std::string>{}(id) % buckets;
}

// Runs a full scan of `idx`, calling `fn` for every hit of bucket `pass`.
// A side that counted no documents is not scanned: besides saving a round
// trip, a 7.17 index that never had a mapping rejects the scan's _seq_no
// sort ("No mapping found for [_seq_no]").
template <typename Fn>
Status scan_all(es::Client& c, const IndexName& idx, const Options& opts, size_t buckets,
                size_t pass, uint64_t counted, Fn&& fn) {
  if (counted == 0) return Status::ok();
  es::ScanOptions so;
  so.batch_size = opts.batch_size;
  so.source = false;  // (id, version) only: never pull whole documents
  TANDEM_ASSIGN_OR_RETURN(auto scanner, c.scan(idx, so));
  for (;;) {
    auto page = scanner->next();
    if (!page.is_ok()) {
      (void)scanner->close();
      return page.status().context("verify scan of index '" + idx.get() + "'");
    }
    if (page->empty()) break;
    for (es::Doc& d : *page) {
      if (bucket_of(d.id.get(), buckets) != pass) continue;
      TANDEM_RETURN_IF_ERROR(fn(d));
    }
  }
  return scanner->close();
}

void add_sample(IndexReport& r, const Options& opts, Difference d) {
  if (r.samples.size() < opts.max_samples) r.samples.push_back(std::move(d));
}

// After a flip the follower holds versions from two regimes: what it got
// at the current epoch, (epoch << 48) | (_seq_no + 1) of the primary, which
// must match exactly; and what it held before the flip -- its own internal
// versions, or external versions of an earlier epoch computed from the
// other cluster's _seq_no. Those cannot be compared with the primary's
// _seq_no, and a lower epoch in the version's top bits says so: such a
// document is matched by id here, and its content is proven by deep verify
// (docs/verify.md, "Across epochs"). At epoch 0 nothing is from a prior
// epoch, so quick is exactly what it was.
bool from_prior_epoch(int64_t version, Epoch epoch) {
  return epoch.get() > 0 && version >= 0 &&
         (static_cast<uint64_t>(version) >> 48) < static_cast<uint64_t>(epoch.get());
}

// Confirms scan differences with GETs on both sides, in rounds: a change in
// flight (the loader has not applied blue's latest write yet, or blue
// changed between the two scans) clears within a round or two.
Status recheck(es::Client& blue, es::Client& green, const IndexName& idx,
               std::vector<Candidate> cands, const Options& opts, IndexReport& r) {
  if (cands.size() > opts.recheck_limit) {
    r.unchecked += cands.size() - opts.recheck_limit;
    cands.resize(opts.recheck_limit);
  }
  const int rounds = std::max(1, opts.recheck_attempts);
  for (int round = 0; round < rounds && !cands.empty(); ++round) {
    if (round > 0) std::this_thread::sleep_for(opts.recheck_delay);
    const bool last = round + 1 == rounds;
    std::vector<Candidate> still;
    for (Candidate& c : cands) {
      TANDEM_ASSIGN_OR_RETURN(es::Doc b, blue.get(idx, c.id, c.routing));
      TANDEM_ASSIGN_OR_RETURN(es::Doc g, green.get(idx, c.id, c.routing));
      Difference d{idx, c.id, DiffKind::kMissing, std::nullopt, 0, g.found ? g.version : -1};
      if (b.found && b.seq_no.get() < 0) {
        return Status(Code::kProtocol, "cluster '" + blue.label() + "' index '" + idx.get() +
                                           "': GET returned no _seq_no (needs ES >= 6.7)");
      }
      if (b.found) d.expected_version = external_version(opts.epoch, b.seq_no);
      if (!b.found && !g.found) {
        ++r.resolved_in_flight;  // deleted on both sides meanwhile
        continue;
      }
      if (b.found && g.found && static_cast<uint64_t>(g.version) == d.expected_version) {
        ++r.resolved_in_flight;
        ++r.matched;
        continue;
      }
      if (b.found && g.found && from_prior_epoch(g.version, opts.epoch)) {
        ++r.resolved_in_flight;
        ++r.matched;
        ++r.prior_epoch;
        continue;
      }
      if (!last) {
        still.push_back(std::move(c));
        continue;
      }
      if (!g.found) {
        d.kind = DiffKind::kMissing;
      } else if (!b.found) {
        d.kind = DiffKind::kExtra;
      } else {
        d.kind = static_cast<uint64_t>(g.version) < d.expected_version ? DiffKind::kStale
                                                                       : DiffKind::kNewer;
      }
      if (opts.dead_letters.count({idx.get(), c.id.get()})) {
        d.underlying = d.kind;
        d.kind = DiffKind::kDeadLettered;
      }
      switch (d.kind) {
        case DiffKind::kMissing:
          ++r.missing;
          break;
        case DiffKind::kExtra:
          ++r.extra;
          break;
        case DiffKind::kStale:
          ++r.stale;
          break;
        case DiffKind::kNewer:
          ++r.newer;
          break;
        case DiffKind::kDeadLettered:
          ++r.dead_lettered;
          break;
      }
      add_sample(r, opts, std::move(d));
    }
    cands = std::move(still);
  }
  return Status::ok();
}

}  // namespace

Result<IndexReport> quick_index(es::Client& blue, es::Client& green, const IndexName& idx,
                                const Options& opts) {
  IndexReport r;
  r.index = idx;
  TANDEM_RETURN_IF_ERROR(blue.refresh(idx));
  TANDEM_ASSIGN_OR_RETURN(r.blue_count, blue.count(idx));
  Status gs = green.refresh(idx);
  if (gs.code() == Code::kNotFound) {
    r.problem = "missing on green";
    r.missing = r.blue_count;
    return r;
  }
  TANDEM_RETURN_IF_ERROR(gs);
  TANDEM_ASSIGN_OR_RETURN(r.green_count, green.count(idx));

  const size_t max_ids = std::max<size_t>(1, opts.max_ids_in_memory);
  const size_t buckets = std::max<size_t>(1, (r.blue_count + max_ids - 1) / max_ids);
  for (size_t pass = 0; pass < buckets; ++pass) {
    std::unordered_map<std::string, Expected> want;
    want.reserve(r.blue_count / buckets + 16);
    TANDEM_RETURN_IF_ERROR(
        scan_all(blue, idx, opts, buckets, pass, r.blue_count, [&](es::Doc& d) -> Status {
          if (d.seq_no.get() < 0) {
            return Status(Code::kProtocol, "cluster '" + blue.label() + "' index '" + idx.get() +
                                               "': scan hit without _seq_no (needs ES >= 6.7)");
          }
          want[d.id.get()] = Expected{external_version(opts.epoch, d.seq_no), d.routing};
          return Status::ok();
        }));
    std::vector<Candidate> cands;
    TANDEM_RETURN_IF_ERROR(
        scan_all(green, idx, opts, buckets, pass, r.green_count, [&](es::Doc& d) -> Status {
          auto it = want.find(d.id.get());
          if (it == want.end()) {
            cands.push_back({d.id, d.routing});
            return Status::ok();
          }
          if (d.version >= 0 && static_cast<uint64_t>(d.version) == it->second.version) {
            ++r.matched;
          } else if (from_prior_epoch(d.version, opts.epoch)) {
            ++r.matched;
            ++r.prior_epoch;
          } else {
            cands.push_back({d.id, it->second.routing});
          }
          want.erase(it);
          return Status::ok();
        }));
    for (auto& [id, e] : want) cands.push_back({DocId(id), e.routing});
    want.clear();
    TANDEM_RETURN_IF_ERROR(recheck(blue, green, idx, std::move(cands), opts, r));
  }
  return r;
}

Result<Report> quick(es::Client& blue, es::Client& green, const Options& opts) {
  Report rep;
  // A concrete name missing on one side is a finding, not a failure.
  auto list = [&](es::Client& c) -> Result<std::vector<es::IndexStats>> {
    auto r = c.indices(opts.index_pattern);
    if (!r.is_ok() && r.status().code() == Code::kNotFound) return std::vector<es::IndexStats>{};
    return r;
  };
  TANDEM_ASSIGN_OR_RETURN(auto blue_indices, list(blue));
  TANDEM_ASSIGN_OR_RETURN(auto green_indices, list(green));
  if (blue_indices.empty() && green_indices.empty()) {
    return Status(Code::kNotFound,
                  "no index matches '" + opts.index_pattern + "' on blue or green");
  }
  for (const auto& st : blue_indices) {
    if (st.status == "close") {
      IndexReport r;
      r.index = st.index;
      r.problem = "closed on blue; not verified";
      rep.indices.push_back(std::move(r));
      continue;
    }
    TANDEM_ASSIGN_OR_RETURN(IndexReport r, quick_index(blue, green, st.index, opts));
    rep.indices.push_back(std::move(r));
  }
  TANDEM_ASSIGN_OR_RETURN(auto renamed, reached_through_alias(green, blue_indices));
  for (const auto& st : green_indices) {
    bool on_blue = std::any_of(blue_indices.begin(), blue_indices.end(),
                               [&](const es::IndexStats& b) { return b.index == st.index; });
    if (on_blue || renamed.contains(st.index.get())) continue;
    IndexReport r;
    r.index = st.index;
    r.problem = "only on green";
    r.green_count = st.docs_count;
    r.extra = st.docs_count;
    rep.indices.push_back(std::move(r));
  }
  return rep;
}

}  // namespace tandem::verify
