// verify --deep: bucketed content digests, drill-down, re-check, repair.
// See verify.h for the algorithm and docs/verify.md for the contract.
#include <algorithm>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "verify/verify.h"

namespace tandem::verify {
namespace {

// A document as a drill-down keeps it: enough to compare, nothing more.
struct Entry {
  std::string id;
  std::optional<std::string> routing;
  uint64_t content = 0;
};

// One key per (id, routing): an id stored twice under different routings
// (two shards) is two documents to Elasticsearch, and to us.
std::string key_of(std::string_view id, const std::optional<std::string>& routing) {
  std::string k(id);
  k += '\0';
  if (routing) {
    k += '1';
    k += *routing;
  } else {
    k += '0';
  }
  return k;
}

// _source may be disabled in a mapping: such documents compare by id and
// routing only (documented).
Result<uint64_t> content_of(const es::Doc& d, const DeepOptions& o, const es::Client& c,
                            const IndexName& idx) {
  if (d.source.empty()) return uint64_t{0};
  auto h = canonical_hash(d.source, o.ignore_fields);
  if (!h.is_ok()) {
    return h.status().context("cluster '" + c.label() + "' index '" + idx.get() + "' id '" +
                              es::sanitize_snippet(d.id.get(), 120) + "'");
  }
  return h;
}

// Scans every slice of both sides at once (one thread per slice per
// side). `make(side, slice)` returns the per-hit function of that thread;
// threads own their state, merged by the caller afterwards.
struct SideScan {
  es::Client* client = nullptr;
  uint64_t counted = 0;  // a side that counted nothing is not scanned
};

// The next page of one slice. A transient failure of a repeatable (PIT)
// page is asked again, unchanged, until `o.scan_retry` has passed since the
// first failure: the page is the same, so nothing is counted twice or
// skipped. Anything else fails the run, naming the cluster and index.
Result<std::vector<es::Doc>> next_page(es::Scanner& sc, const es::Client& c, const IndexName& idx,
                                       const DeepOptions& o) {
  const auto first = std::chrono::steady_clock::now();
  for (int attempt = 1;; ++attempt) {
    auto page = sc.next();
    if (page.is_ok() || !es::is_transient(page.status())) return page;
    const auto waited = std::chrono::steady_clock::now() - first;
    const std::string where = "cluster '" + c.label() + "' index '" + idx.get() + "'";
    if (!sc.repeatable()) {
      return page.status().context(where +
                                   ": a scroll page cannot be asked again without "
                                   "risking a skipped page; re-run verify --deep");
    }
    if (waited + o.scan_retry_interval > o.scan_retry) {
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(waited).count();
      return page.status().context(where + ": scan page still failing after " +
                                   std::to_string(attempt) + " attempt(s) over " +
                                   std::to_string(secs) + " s; re-run verify --deep");
    }
    if (o.on_retry) {
      o.on_retry(where + ": scan page failed (" + page.status().to_string() + "); asking again (" +
                 std::to_string(attempt) + ")");
    }
    std::this_thread::sleep_for(o.scan_retry_interval);
  }
}

template <typename PerHit>
Status scan_both(const IndexName& idx, const DeepOptions& o, const SideScan (&sides)[2], int slices,
                 PerHit&& per_hit) {
  std::vector<std::thread> threads;
  std::vector<Status> results(2 * static_cast<size_t>(slices), Status::ok());
  for (int side = 0; side < 2; ++side) {
    if (sides[side].counted == 0) continue;
    for (int s = 0; s < slices; ++s) {
      threads.emplace_back([&, side, s] {
        es::ScanOptions so;
        so.slices = slices;
        so.slice_id = s;
        so.batch_size = o.batch_size;
        so.source = true;
        so.source_excludes = o.ignore_fields;
        so.force_scroll = o.force_scroll;
        Status& st = results[static_cast<size_t>(side * slices + s)];
        auto scanner = sides[side].client->scan(idx, so);
        if (!scanner.is_ok()) {
          st = scanner.status();
          return;
        }
        // Fetch page N+1 while page N is hashed, so the cluster is never
        // idle waiting for this thread's CPU work.
        es::Scanner* sc = scanner->get();
        es::Client* client = sides[side].client;
        auto fetch = [sc, client, &idx, &o] { return next_page(*sc, *client, idx, o); };
        auto next = std::async(std::launch::async, fetch);
        for (;;) {
          auto page = next.get();
          if (!page.is_ok()) {
            st = page.status().context("deep verify scan of index '" + idx.get() + "'");
            break;
          }
          if (page->empty()) break;
          if (o.after_page) o.after_page(side);
          next = std::async(std::launch::async, fetch);
          for (es::Doc& d : *page) {
            Status hs = per_hit(side, s, d);
            if (!hs.is_ok()) {
              st = hs;
              break;
            }
          }
          if (!st.is_ok()) {
            if (next.valid()) (void)next.get();  // no fetch in flight at close
            break;
          }
        }
        Status cs = (*scanner)->close();
        if (st.is_ok() && !cs.is_ok()) st = cs;
      });
    }
  }
  for (auto& t : threads) t.join();
  for (auto& s : results) {
    if (!s.is_ok()) return s;
  }
  return Status::ok();
}

struct Candidate {
  DocId id;
  std::optional<std::string> p_routing, s_routing;
  bool on_primary = true, on_secondary = true;
};

// Sizes from _stats: total and primary store, doc counts. Reported only.
Result<SideSizes> sizes_of(es::Client& c, const IndexName& idx) {
  TANDEM_ASSIGN_OR_RETURN(auto j, c.call("GET", "/" + idx.get() + "/_stats/docs,store"));
  SideSizes s;
  const auto& indices = j["indices"];
  if (!indices.is_object()) return s;
  auto num = [](const nlohmann::json& v) -> uint64_t {
    return v.is_number_unsigned() || v.is_number_integer() ? v.get<uint64_t>() : 0;
  };
  // Keyed by concrete index: `idx` itself, or, when `idx` is an alias there
  // (a renamed restore), the index or indices it points at. Sum them all.
  for (const auto& [name, all] : indices.items()) {
    if (!all.is_object()) continue;
    s.docs += num(all["primaries"]["docs"]["count"]);
    s.store_bytes += num(all["total"]["store"]["size_in_bytes"]);
    s.primary_store_bytes += num(all["primaries"]["store"]["size_in_bytes"]);
  }
  return s;
}

void add_sample(DeepIndexReport& r, const DeepOptions& o, DeepDiff d) {
  if (r.samples.size() < o.max_samples) r.samples.push_back(std::move(d));
}

void count_kind(DeepIndexReport& r, const DeepDiff& d) {
  if (d.dead_lettered) {
    ++r.dead_lettered;
    return;
  }
  switch (d.kind) {
    case DeepKind::kMissing:
      ++r.missing;
      break;
    case DeepKind::kExtra:
      ++r.extra;
      break;
    case DeepKind::kContent:
      ++r.content;
      break;
    case DeepKind::kRouting:
      ++r.routing;
      break;
  }
}

Result<std::vector<es::Doc>> mget_batched(es::Client& c, const std::vector<es::DocRef>& refs) {
  std::vector<es::Doc> out;
  out.reserve(refs.size());
  constexpr size_t kBatch = 500;
  for (size_t i = 0; i < refs.size(); i += kBatch) {
    std::vector<es::DocRef> part(
        refs.begin() + static_cast<std::ptrdiff_t>(i),
        refs.begin() + static_cast<std::ptrdiff_t>(std::min(refs.size(), i + kBatch)));
    TANDEM_ASSIGN_OR_RETURN(auto docs, c.mget(part));
    for (auto& d : docs) out.push_back(std::move(d));
  }
  return out;
}

// Re-reads each candidate on both sides, in rounds spread over the grace
// window: a write in flight (the loader not caught up, a change between the
// two scans) clears within it. What is left is returned, classified.
Result<std::vector<DeepDiff>> recheck(es::Client& p, es::Client& s, const IndexName& idx,
                                      std::vector<Candidate> cands, const DeepOptions& o,
                                      DeepIndexReport& r) {
  std::vector<DeepDiff> confirmed;
  if (cands.size() > o.recheck_limit) {
    r.unchecked += cands.size() - o.recheck_limit;
    cands.resize(o.recheck_limit);
  }
  const int rounds = std::max(1, o.recheck_attempts);
  const auto delay = rounds > 1 ? o.grace / (rounds - 1) : std::chrono::milliseconds(0);
  for (int round = 0; round < rounds && !cands.empty(); ++round) {
    if (round > 0) std::this_thread::sleep_for(delay);
    const bool last = round + 1 == rounds;
    std::vector<es::DocRef> prefs, srefs;
    for (const auto& c : cands) {
      // A document missing on one side is looked up there with the other
      // side's routing (where it would be).
      prefs.push_back({idx, c.id, c.on_primary ? c.p_routing : c.s_routing});
      srefs.push_back({idx, c.id, c.on_secondary ? c.s_routing : c.p_routing});
    }
    TANDEM_ASSIGN_OR_RETURN(auto sd, mget_batched(s, srefs));
    TANDEM_ASSIGN_OR_RETURN(auto pd, mget_batched(p, prefs));
    std::vector<Candidate> still;
    for (size_t i = 0; i < cands.size(); ++i) {
      const es::Doc& a = pd[i];
      const es::Doc& b = sd[i];
      DeepDiff d;
      d.index = idx;
      d.id = cands[i].id;
      if (!a.found && !b.found) {
        ++r.resolved_in_flight;
        continue;
      }
      if (a.found) {
        d.primary_routing = a.routing;
        d.primary_version =
            a.seq_no.get() >= 0 ? static_cast<int64_t>(external_version(o.epoch, a.seq_no)) : -1;
      }
      if (b.found) {
        d.secondary_routing = b.routing;
        d.secondary_version = b.version;
      }
      if (a.found && b.found) {
        if (a.routing != b.routing) {
          d.kind = DeepKind::kRouting;
        } else {
          TANDEM_ASSIGN_OR_RETURN(uint64_t ha, content_of(a, o, p, idx));
          TANDEM_ASSIGN_OR_RETURN(uint64_t hb, content_of(b, o, s, idx));
          if (ha == hb) {
            ++r.resolved_in_flight;
            continue;
          }
          d.kind = DeepKind::kContent;
          d.fields = field_diff(a.source, b.source, o.ignore_fields, o.max_diff_lines);
        }
      } else {
        d.kind = a.found ? DeepKind::kMissing : DeepKind::kExtra;
      }
      if (!last) {
        still.push_back(cands[i]);
        continue;
      }
      d.dead_lettered = o.dead_letters.count({idx.get(), d.id.get()}) > 0;
      confirmed.push_back(std::move(d));
    }
    cands = std::move(still);
  }
  return confirmed;
}

std::string version_text(int64_t v) {
  return v < 0 ? "none" : std::to_string(v);
}

// Repair, in two paths (docs/verify.md, "Repair"):
//  - a same-version content difference, and a routing difference, cannot
//    be fixed by an external write (the secondary already holds that
//    version: 409). They are overwritten with version_type=external_gte at
//    exactly the primary's current version, with the primary's current
//    source read just before: equal wins, a newer version on the secondary
//    still answers 409, and a newer write on the primary arrives later with
//    a higher version and wins;
//  - everything else goes through the loader's reconcile (Repairer): read
//    the secondary, then the primary, write what the primary has with the
//    external version of its _seq_no, or a delete at the secondary's
//    version + 1 when the primary has no such document.
Status repair(es::Client& p, es::Client& s, const IndexName& idx, std::vector<DeepDiff>& diffs,
              const DeepOptions& o, DeepIndexReport& r) {
  std::vector<size_t> overwrite, reconcile;
  for (size_t i = 0; i < diffs.size(); ++i) {
    const DeepDiff& d = diffs[i];
    bool equal_version = d.primary_version >= 0 && d.primary_version == d.secondary_version;
    if (d.kind == DeepKind::kRouting || (d.kind == DeepKind::kContent && equal_version)) {
      overwrite.push_back(i);
    } else {
      reconcile.push_back(i);
    }
  }
  if (o.dry_run) {
    for (size_t i : overwrite) {
      diffs[i].repair =
          "would overwrite from the primary at version " + version_text(diffs[i].primary_version) +
          " (external_gte)" +
          (diffs[i].kind == DeepKind::kRouting ? " and delete the copy under the old routing" : "");
    }
    for (size_t i : reconcile) {
      diffs[i].repair =
          diffs[i].kind == DeepKind::kExtra
              ? "would delete at version " + version_text(diffs[i].secondary_version < 0
                                                              ? -1
                                                              : diffs[i].secondary_version + 1)
              : "would write from the primary at version " + version_text(diffs[i].primary_version);
    }
    return Status::ok();
  }

  // Same-version overwrites: read the primary now, then write.
  if (!overwrite.empty()) {
    std::vector<es::DocRef> refs;
    for (size_t i : overwrite) refs.push_back({idx, diffs[i].id, diffs[i].primary_routing});
    TANDEM_ASSIGN_OR_RETURN(auto now, mget_batched(p, refs));
    es::BulkBuilder bb(s.info().version.major < 7);
    std::vector<size_t> written;
    for (size_t k = 0; k < overwrite.size(); ++k) {
      DeepDiff& d = diffs[overwrite[k]];
      const es::Doc& pd = now[k];
      if (!pd.found) {
        reconcile.push_back(overwrite[k]);  // deleted meanwhile: the delete path
        continue;
      }
      if (o.before_overwrite) o.before_overwrite(d);
      uint64_t v = external_version(o.epoch, pd.seq_no);
      bb.index(idx, d.id, pd.source, pd.routing, es::VersionSpec{v, true});
      d.primary_version = static_cast<int64_t>(v);
      written.push_back(overwrite[k]);
    }
    if (!bb.empty()) {
      TANDEM_ASSIGN_OR_RETURN(auto resp, s.bulk(bb));
      for (size_t k = 0; k < written.size() && k < resp.items.size(); ++k) {
        DeepDiff& d = diffs[written[k]];
        const auto& it = resp.items[k];
        if (it.ok()) {
          ++r.repaired;
          d.repair = "overwritten from the primary at version " + version_text(d.primary_version) +
                     " (external_gte)";
        } else if (it.version_conflict()) {
          ++r.repair_already_newer;
          d.repair = "not overwritten: the secondary already holds a newer version";
        } else {
          ++r.repair_failed;
          d.repair = "failed: " + it.error_type + ": " + it.error_reason;
        }
      }
    }
    // A routing difference across shards leaves the old copy behind:
    // delete it at its own version + 1 (a change to it meanwhile answers
    // 409 and it is left for the next verify).
    es::BulkBuilder del(s.info().version.major < 7);
    for (size_t i : written) {
      DeepDiff& d = diffs[i];
      if (d.kind != DeepKind::kRouting || d.secondary_routing == d.primary_routing) continue;
      TANDEM_ASSIGN_OR_RETURN(es::Doc old, s.get(idx, d.id, d.secondary_routing));
      if (!old.found || old.routing != d.secondary_routing || old.version < 0) continue;
      del.remove(idx, d.id, d.secondary_routing,
                 es::VersionSpec{static_cast<uint64_t>(old.version) + 1, false});
      d.repair += "; old copy under routing '" + d.secondary_routing.value_or("") + "' deleted";
    }
    if (!del.empty()) TANDEM_RETURN_IF_ERROR(s.bulk(del).status());
  }

  if (!reconcile.empty()) {
    if (o.repairer == nullptr) {
      return Status(Code::kFailedPrecondition,
                    "repair needs the versioned apply path (no repairer)");
    }
    std::vector<es::DocRef> refs;
    for (size_t i : reconcile) {
      const DeepDiff& d = diffs[i];
      refs.push_back(
          {idx, d.id, d.kind == DeepKind::kExtra ? d.secondary_routing : d.primary_routing});
    }
    auto fates = o.repairer->reconcile(refs);
    for (size_t k = 0; k < reconcile.size(); ++k) {
      DeepDiff& d = diffs[reconcile[k]];
      if (!fates.is_ok() || k >= fates->size()) {
        ++r.repair_failed;
        d.repair =
            "failed: " + (fates.is_ok() ? std::string("no answer") : fates.status().to_string());
        continue;
      }
      switch ((*fates)[k]) {
        case RepairFate::kApplied:
          ++r.repaired;
          d.repair = d.kind == DeepKind::kExtra ? "deleted (versioned)"
                                                : "rewritten from the primary (versioned)";
          break;
        case RepairFate::kAlreadyNewer:
          ++r.repair_already_newer;
          d.repair = "not written: the secondary already holds a newer or equal version";
          break;
        case RepairFate::kFailed:
          ++r.repair_failed;
          d.repair = "failed (dead-lettered)";
          break;
      }
    }
  }
  return Status::ok();
}

}  // namespace

Result<DeepIndexReport> deep_index(es::Client& p, es::Client& s, const IndexName& idx,
                                   const DeepOptions& o) {
  DeepIndexReport r;
  r.index = idx;
  TANDEM_RETURN_IF_ERROR(p.refresh(idx));
  TANDEM_ASSIGN_OR_RETURN(uint64_t pc, p.count(idx));
  Status ss = s.refresh(idx);
  if (ss.code() == Code::kNotFound) {
    r.problem = "missing on " + s.label();
    r.primary_count = pc;
    r.missing = pc;
    if (auto z = sizes_of(p, idx); z.is_ok()) r.primary_sizes = *z;
    return r;
  }
  TANDEM_RETURN_IF_ERROR(ss);
  TANDEM_ASSIGN_OR_RETURN(uint64_t sc, s.count(idx));
  if (auto z = sizes_of(p, idx); z.is_ok()) r.primary_sizes = *z;
  if (auto z = sizes_of(s, idx); z.is_ok()) r.secondary_sizes = *z;

  const size_t nb = o.buckets > 0 ? o.buckets : bucket_count(std::max(pc, sc));
  r.buckets = nb;
  // Small indices scan unsliced: a slice costs a search context per shard.
  const int slices = std::max(pc, sc) < 20'000 ? 1 : std::max(1, o.slices);
  const SideScan sides[2] = {{&p, pc}, {&s, sc}};

  // Pass 1: bucket digests, one set per thread, merged per side.
  std::vector<BucketSet> sets(2 * static_cast<size_t>(slices), BucketSet(nb));
  std::vector<uint64_t> scanned(sets.size(), 0);
  TANDEM_RETURN_IF_ERROR(
      scan_both(idx, o, sides, slices, [&](int side, int slice, es::Doc& d) -> Status {
        const es::Client& c = side == 0 ? p : s;
        TANDEM_ASSIGN_OR_RETURN(uint64_t ch, content_of(d, o, c, idx));
        uint64_t ih = id_hash(d.id.get());
        size_t t = static_cast<size_t>(side * slices + slice);
        sets[t].add(ih, doc_digest(ih, d.routing, ch));
        ++scanned[t];
        return Status::ok();
      }));
  BucketSet pb(nb), sb(nb);
  for (int k = 0; k < slices; ++k) {
    pb.merge(sets[static_cast<size_t>(k)]);
    sb.merge(sets[static_cast<size_t>(slices + k)]);
    r.primary_count += scanned[static_cast<size_t>(k)];
    r.secondary_count += scanned[static_cast<size_t>(slices + k)];
  }
  sets.clear();
  sets.shrink_to_fit();

  std::vector<uint32_t> diff = pb.differing(sb);
  r.differing_buckets = diff.size();
  if (diff.empty()) return r;

  // Pass 2: drill down into the differing buckets, a group at a time.
  std::vector<Candidate> cands;
  for (const auto& group :
       plan_drilldown(pb, sb, diff, std::max<size_t>(1, o.max_docs_in_memory))) {
    ++r.drilldown_scans;
    std::vector<char> wanted(nb, 0);
    for (uint32_t b : group) wanted[b] = 1;
    std::vector<std::vector<Entry>> kept(2 * static_cast<size_t>(slices));
    TANDEM_RETURN_IF_ERROR(
        scan_both(idx, o, sides, slices, [&](int side, int slice, es::Doc& d) -> Status {
          uint64_t ih = id_hash(d.id.get());
          if (!wanted[pb.bucket_of(ih)]) return Status::ok();
          const es::Client& c = side == 0 ? p : s;
          TANDEM_ASSIGN_OR_RETURN(uint64_t ch, content_of(d, o, c, idx));
          kept[static_cast<size_t>(side * slices + slice)].push_back({d.id.get(), d.routing, ch});
          return Status::ok();
        }));
    std::unordered_map<std::string, const Entry*> prim;
    for (int k = 0; k < slices; ++k) {
      for (const Entry& e : kept[static_cast<size_t>(k)]) prim.emplace(key_of(e.id, e.routing), &e);
    }
    // Secondary-only entries, by id, to pair them with primary-only ones of
    // the same id (a routing difference).
    std::unordered_multimap<std::string, const Entry*> sec_only;
    for (int k = 0; k < slices; ++k) {
      for (const Entry& e : kept[static_cast<size_t>(slices + k)]) {
        auto it = prim.find(key_of(e.id, e.routing));
        if (it == prim.end()) {
          sec_only.emplace(e.id, &e);
          continue;
        }
        if (it->second->content != e.content) {
          cands.push_back({DocId(e.id), it->second->routing, e.routing, true, true});
        }
        prim.erase(it);
      }
    }
    for (auto& [k, e] : prim) {
      auto it = sec_only.find(e->id);
      if (it != sec_only.end()) {
        cands.push_back({DocId(e->id), e->routing, it->second->routing, true, true});
        sec_only.erase(it);
      } else {
        cands.push_back({DocId(e->id), e->routing, e->routing, true, false});
      }
    }
    for (auto& [id, e] : sec_only)
      cands.push_back({DocId(id), e->routing, e->routing, false, true});
  }

  TANDEM_ASSIGN_OR_RETURN(auto confirmed, recheck(p, s, idx, std::move(cands), o, r));
  if (o.repair && !confirmed.empty()) {
    TANDEM_RETURN_IF_ERROR(repair(p, s, idx, confirmed, o, r));
  }
  for (auto& d : confirmed) {
    count_kind(r, d);
    add_sample(r, o, std::move(d));
  }
  return r;
}

Result<DeepReport> deep(es::Client& p, es::Client& s, const DeepOptions& o) {
  DeepReport rep;
  rep.primary = p.label();
  rep.secondary = s.label();
  rep.repair = o.repair;
  rep.dry_run = o.dry_run;
  auto list = [&](es::Client& c) -> Result<std::vector<es::IndexStats>> {
    auto r = c.indices(o.index_pattern);
    if (!r.is_ok() && r.status().code() == Code::kNotFound) return std::vector<es::IndexStats>{};
    return r;
  };
  TANDEM_ASSIGN_OR_RETURN(auto pi, list(p));
  TANDEM_ASSIGN_OR_RETURN(auto si, list(s));
  if (pi.empty() && si.empty()) {
    return Status(Code::kNotFound, "no index matches '" + o.index_pattern + "' on " + p.label() +
                                       " or " + s.label());
  }
  TANDEM_ASSIGN_OR_RETURN(auto renamed, reached_through_alias(s, pi));
  auto one_pass = [&](const DeepOptions& opts) -> Result<std::vector<DeepIndexReport>> {
    std::vector<DeepIndexReport> out;
    for (const auto& st : pi) {
      if (st.status == "close") {
        DeepIndexReport r;
        r.index = st.index;
        r.problem = "closed on " + p.label() + "; not verified";
        out.push_back(std::move(r));
        continue;
      }
      TANDEM_ASSIGN_OR_RETURN(DeepIndexReport r, deep_index(p, s, st.index, opts));
      out.push_back(std::move(r));
    }
    for (const auto& st : si) {
      bool on_p = std::any_of(pi.begin(), pi.end(),
                              [&](const es::IndexStats& b) { return b.index == st.index; });
      if (on_p || renamed.contains(st.index.get())) continue;
      DeepIndexReport r;
      r.index = st.index;
      r.problem = "only on " + s.label();
      r.secondary_count = st.docs_count;
      r.extra = st.docs_count;
      if (auto z = sizes_of(s, st.index); z.is_ok()) r.secondary_sizes = *z;
      out.push_back(std::move(r));
    }
    return out;
  };
  TANDEM_ASSIGN_OR_RETURN(auto first, one_pass(o));
  if (!o.repair || o.dry_run) {
    rep.indices = std::move(first);
    return rep;
  }
  bool any = std::any_of(first.begin(), first.end(), [](const DeepIndexReport& r) {
    return r.repaired + r.repair_already_newer + r.repair_failed > 0;
  });
  if (!any) {  // nothing to repair: one pass is the answer
    rep.indices = std::move(first);
    return rep;
  }
  rep.before_repair = std::move(first);
  // Re-verify: the repair is proven by the same comparison, not assumed.
  DeepOptions again = o;
  again.repair = false;
  TANDEM_ASSIGN_OR_RETURN(rep.indices, one_pass(again));
  return rep;
}

}  // namespace tandem::verify
