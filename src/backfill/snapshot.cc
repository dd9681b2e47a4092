// `tandem backfill --mode snapshot`: restore a snapshot of the primary on the
// secondary, then close the gap from the log's marks (see backfill.h and
// docs/backfill-snapshot.md).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backfill/backfill.h"
#include "event/event.h"

namespace tandem::backfill {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string name(const es::ClusterInfo& c) {
  return std::string(es::flavor_name(c.flavor)) + " " + c.version.to_string();
}

Status refuse(const es::ClusterInfo& p, const es::ClusterInfo& s, const std::string& why) {
  return Status(Code::kFailedPrecondition,
                "backfill --mode snapshot cannot restore " + name(p) + " on " + name(s) + ": " +
                    why + "; use --mode scan (it copies documents, so it has no version limit)");
}

std::string enc(const std::string& s) {
  return http::encode_path_segment(s);
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ",") + x;
  return out;
}

double secs_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool stopped(const SnapshotOptions& o) {
  return o.stop && o.stop->load();
}

// Polls the snapshot until it is no longer IN_PROGRESS.
Status wait_snapshot(es::Client& c, const SnapshotOptions& o) {
  const auto deadline = Clock::now() + o.timeout;
  const std::string target = "/_snapshot/" + enc(o.repository) + "/" + enc(o.snapshot);
  while (true) {
    if (stopped(o)) return Status(Code::kUnavailable, "stopped while the snapshot ran");
    TANDEM_ASSIGN_OR_RETURN(json r, c.call("GET", target));
    const json* snap = nullptr;
    if (r.contains("snapshots") && r["snapshots"].is_array() && !r["snapshots"].empty()) {
      snap = &r["snapshots"][0];
    }
    std::string state =
        snap && (*snap).contains("state") ? (*snap)["state"].get<std::string>() : "";
    if (state == "SUCCESS") return Status::ok();
    if (!state.empty() && state != "IN_PROGRESS" && state != "STARTED") {
      return Status(Code::kInternal, "cluster '" + c.label() + "': snapshot '" + o.snapshot +
                                         "' ended " + state + ": " +
                                         es::sanitize_snippet(snap->dump(), 300));
    }
    if (Clock::now() > deadline) {
      return Status(Code::kTimeout, "snapshot '" + o.snapshot + "' still running after " +
                                        std::to_string(o.timeout.count()) + "s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

// Waits until every restored index has its primaries active (yellow).
Status wait_restored(es::Client& c, const std::vector<std::string>& indices,
                     const SnapshotOptions& o) {
  const auto deadline = Clock::now() + o.timeout;
  const std::string target =
      "/_cluster/health/" + enc(join(indices)) + "?wait_for_status=yellow&timeout=5s";
  while (true) {
    if (stopped(o)) return Status(Code::kUnavailable, "stopped while the restore ran");
    auto r = c.call("GET", target);
    if (r.is_ok() && r->contains("timed_out") && !(*r)["timed_out"].get<bool>()) {
      // Yellow also while shards recover from the repository: the restore is
      // done when no shard is initializing any more.
      if ((*r)["initializing_shards"].get<int64_t>() == 0) return Status::ok();
    }
    if (Clock::now() > deadline) {
      return Status(Code::kTimeout, "cluster '" + c.label() + "': restore of " + join(indices) +
                                        " not done after " + std::to_string(o.timeout.count()) +
                                        "s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

// Commits the marks for the loader's group. A fresh Kafka group member may
// not have joined yet (the broker answers ILLEGAL_GENERATION), so it polls
// to complete the join and tries again, for at most ~30 s. What a poll
// returns is dropped: this consumer only sets the group's position.
Status commit_marks(log::Consumer& c, const std::map<Partition, Offset>& at,
                    const SnapshotOptions& o) {
  Status last = Status::ok();
  for (int attempt = 0; attempt < 60; ++attempt) {
    last = c.commit(at);
    if (last.is_ok() || stopped(o)) return last;
    (void)c.poll(1, std::chrono::milliseconds(500));
  }
  return last.context("committing the marks for the loader's group");
}

Status register_repo(es::Client& c, const SnapshotOptions& o, bool readonly) {
  json settings = {{"location", o.repo_path}};
  if (readonly) settings["readonly"] = true;
  auto r = c.call("PUT", "/_snapshot/" + enc(o.repository),
                  json{{"type", "fs"}, {"settings", settings}});
  if (r.is_ok()) return Status::ok();
  return Status(r.status().code(),
                r.status().message() + " (the repository directory '" + o.repo_path +
                    "' must be listed in path.repo of both clusters and be one shared "
                    "filesystem)");
}

// Reads the log from `from` to `to` (per partition, exclusive) and returns
// the distinct documents of data events on `indices`.
Result<std::vector<event::ChangeEvent>> gap_documents(log::Log& log,
                                                      const std::vector<Offset>& from,
                                                      const std::vector<Offset>& to,
                                                      const std::set<std::string>& indices,
                                                      const SnapshotOptions& o, uint64_t* events) {
  std::vector<event::ChangeEvent> docs;
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  bool any = false;
  for (size_t p = 0; p < from.size() && p < to.size(); ++p) any = any || to[p] > from[p];
  if (!any) return docs;
  TANDEM_ASSIGN_OR_RETURN(auto consumer, log.consumer("tandem-snapshot-gap-" + o.snapshot));
  std::vector<int64_t> next(from.size());
  for (size_t p = 0; p < from.size(); ++p) {
    next[p] = from[p].get();
    TANDEM_RETURN_IF_ERROR(consumer->seek(Partition(static_cast<int32_t>(p)), from[p]));
  }
  auto done = [&]() {
    for (size_t p = 0; p < next.size() && p < to.size(); ++p) {
      if (next[p] < to[p].get()) return false;
    }
    return true;
  };
  const auto deadline = Clock::now() + o.timeout;
  while (!done()) {
    if (stopped(o)) return Status(Code::kUnavailable, "stopped while reading the gap");
    if (Clock::now() > deadline) {
      return Status(Code::kTimeout, "reading the log between the marks and its end timed out");
    }
    TANDEM_ASSIGN_OR_RETURN(auto recs, consumer->poll(1000, std::chrono::milliseconds(500)));
    for (const auto& rec : recs) {
      const auto p = static_cast<size_t>(rec.partition.get());
      if (p >= next.size()) continue;
      next[p] = std::max(next[p], rec.offset.get() + 1);
      if (rec.offset.get() >= to[p].get()) continue;  // after the window: the loader's
      auto ev = event::decode(rec.value);
      if (!ev.is_ok()) {
        return ev.status().context("log partition " + std::to_string(p) + " offset " +
                                   std::to_string(rec.offset.get()));
      }
      if (ev->op == event::Op::kMeta || !indices.contains(ev->index.get())) continue;
      ++*events;
      auto key = std::make_tuple(ev->index.get(), ev->id.get(), ev->routing.value_or(""));
      if (!seen.insert(key).second) continue;
      event::ChangeEvent r;
      r.op = event::Op::kReconcile;
      r.index = ev->index;
      r.id = ev->id;
      r.routing = ev->routing;
      r.epoch = o.epoch;
      docs.push_back(std::move(r));
    }
  }
  return docs;
}

}  // namespace

std::string SnapshotReport::summary() const {
  std::string marks_s;
  for (const auto& m : marks) marks_s += (marks_s.empty() ? "" : ",") + std::to_string(m.get());
  std::string renamed = restored == indices ? "" : " restored_as=" + join(restored);
  return fmt::format(
      "backfill snapshot={} indices={}{} marks=[{}] snapshot_s={:.1f} restore_s={:.1f} "
      "gap_events={} gap_docs={} gap_s={:.1f}\n",
      snapshot, join(indices), renamed, marks_s, snapshot_s, restore_s, gap_events, gap_docs,
      gap_s);
}

Status check_snapshot_pair(const es::ClusterInfo& p, const es::ClusterInfo& s) {
  const bool p_os = p.flavor == es::Flavor::kOpenSearch;
  const bool s_os = s.flavor == es::Flavor::kOpenSearch;
  if (!p_os && s_os) {
    return refuse(p, s,
                  p.version.major >= 8
                      ? "OpenSearch cannot read an Elasticsearch 8+ snapshot repository"
                      : "OpenSearch reads Elasticsearch snapshots only of indices up to 7.10, "
                        "and tandem does not restore across flavors");
  }
  if (p_os && !s_os) return refuse(p, s, "Elasticsearch cannot read OpenSearch snapshots");
  if (s.version < p.version)
    return refuse(p, s, "a snapshot cannot be restored on an older version");
  if (s.version.major > p.version.major + 1) {
    return refuse(p, s,
                  "a snapshot restores only on the same or the next major version (N+1), and " +
                      name(s) + " is N+" + std::to_string(s.version.major - p.version.major));
  }
  return Status::ok();
}

Result<SnapshotReport> run_snapshot(es::Client& primary, es::Client& secondary, apply::Sink& sink,
                                    state::Store& store, log::Log& log, SnapshotOptions o) {
  auto say = [&](const std::string& line) {
    if (o.progress) {
      o.progress(line);
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  };
  TANDEM_RETURN_IF_ERROR(check_snapshot_pair(primary.info(), secondary.info()));
  if (o.repo_path.empty()) {
    return Status(Code::kInvalidArgument,
                  "--mode snapshot needs --repo-path: a directory in path.repo of both clusters");
  }
  if (o.snapshot.empty()) {
    o.snapshot = "tandem-" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  }
  SnapshotReport rep;
  rep.snapshot = o.snapshot;
  TANDEM_ASSIGN_OR_RETURN(auto listed, primary.indices(o.index_pattern));
  for (const auto& st : listed) rep.indices.push_back(st.index.get());
  if (rep.indices.empty()) {
    return Status(Code::kNotFound,
                  "cluster '" + primary.label() + "': no index matches '" + o.index_pattern + "'");
  }
  if (!o.rename_suffix.empty()) {
    auto bad = std::find_if(o.rename_suffix.begin(), o.rename_suffix.end(), [](char c) {
      return !(std::islower(static_cast<unsigned char>(c)) ||
               std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
    });
    if (bad != o.rename_suffix.end()) {
      return Status(Code::kInvalidArgument,
                    "--rename-suffix '" + o.rename_suffix +
                        "': an index name suffix may only hold [a-z0-9._-]");
    }
  }
  for (const auto& idx : rep.indices) {
    rep.restored.push_back(idx + o.rename_suffix);
    // The restored name must be free, and with a rename so must blue's
    // name (it becomes the alias): HEAD answers for an index or an alias.
    std::vector<std::string> must_be_free{rep.restored.back()};
    if (!o.rename_suffix.empty()) must_be_free.push_back(idx);
    for (const auto& name : must_be_free) {
      auto r = secondary.index_exists(IndexName(name));
      if (!r.is_ok()) return r.status();
      if (*r) {
        return Status(Code::kFailedPrecondition,
                      "cluster '" + secondary.label() + "' index or alias '" + name +
                          "' already exists: --mode snapshot creates the indices by restoring "
                          "them (delete it on green and do not `meta apply` these indices first, "
                          "or use --mode scan)");
      }
    }
  }
  TANDEM_RETURN_IF_ERROR(register_repo(primary, o, false));
  TANDEM_RETURN_IF_ERROR(register_repo(secondary, o, true));

  // The marks, before the snapshot: every write the snapshot may miss is in
  // the log at or after them.
  TANDEM_ASSIGN_OR_RETURN(rep.marks, log.end_offsets());
  json marks = json::array();
  for (const auto& m : rep.marks) marks.push_back(m.get());
  TANDEM_RETURN_IF_ERROR(store.put("backfill.snapshot." + o.snapshot + ".marks", marks.dump()));
  if (!o.loader_group.empty()) {
    TANDEM_ASSIGN_OR_RETURN(auto consumer, log.consumer(o.loader_group));
    TANDEM_ASSIGN_OR_RETURN(auto committed, consumer->committed());
    if (committed.empty()) {
      std::map<Partition, Offset> at;
      for (size_t p = 0; p < rep.marks.size(); ++p) {
        at[Partition(static_cast<int32_t>(p))] = rep.marks[p];
      }
      TANDEM_RETURN_IF_ERROR(commit_marks(*consumer, at, o));
      say("backfill: loader group '" + o.loader_group + "' starts at the marks");
    } else {
      say("backfill: loader group '" + o.loader_group +
          "' already has a position; it replays from there (also correct, only longer)");
    }
  }
  say(fmt::format("backfill: marks recorded; snapshotting {} on {}", join(rep.indices),
                  primary.label()));

  auto t0 = Clock::now();
  TANDEM_RETURN_IF_ERROR(primary
                             .call("PUT", "/_snapshot/" + enc(o.repository) + "/" + enc(o.snapshot),
                                   json{{"indices", join(rep.indices)},
                                        {"include_global_state", false},
                                        {"ignore_unavailable", false}})
                             .status());
  TANDEM_RETURN_IF_ERROR(wait_snapshot(primary, o));
  rep.snapshot_s = secs_since(t0);
  say(fmt::format("backfill: snapshot {} done in {:.1f}s; restoring on {}", o.snapshot,
                  rep.snapshot_s, secondary.label()));

  t0 = Clock::now();
  json restore{{"indices", join(rep.indices)},
               {"include_global_state", false},
               {"include_aliases", true},
               {"index_settings", {{"index.gc_deletes", o.gc_deletes}}}};
  if (!o.rename_suffix.empty()) {
    // Every index of the snapshot is one of rep.indices, so "(.+)" renames
    // exactly those, each to its name plus the suffix (validated above: it
    // holds nothing the replacement string would interpret, like '$').
    restore["rename_pattern"] = "(.+)";
    restore["rename_replacement"] = "$1" + o.rename_suffix;
  }
  TANDEM_RETURN_IF_ERROR(
      secondary
          .call("POST", "/_snapshot/" + enc(o.repository) + "/" + enc(o.snapshot) + "/_restore",
                restore)
          .status());
  TANDEM_RETURN_IF_ERROR(wait_restored(secondary, rep.restored, o));
  if (!o.rename_suffix.empty()) {
    json actions = json::array();
    for (size_t i = 0; i < rep.indices.size(); ++i) {
      actions.push_back(
          {{"add",
            {{"index", rep.restored[i]}, {"alias", rep.indices[i]}, {"is_write_index", true}}}});
    }
    TANDEM_RETURN_IF_ERROR(secondary.update_aliases(actions));
    say(fmt::format("backfill: restored as {}, each behind an alias of blue's name",
                    join(rep.restored)));
  }
  rep.restore_s = secs_since(t0);
  say(fmt::format("backfill: restored in {:.1f}s; reconciling the gap since the marks",
                  rep.restore_s));

  // The gap: documents written between the marks and now. Re-read from the
  // primary and written with external versions, so no later (or reordered)
  // event can be mistaken for newer than what the restore brought.
  t0 = Clock::now();
  TANDEM_ASSIGN_OR_RETURN(auto ends, log.end_offsets());
  std::set<std::string> names(rep.indices.begin(), rep.indices.end());
  TANDEM_ASSIGN_OR_RETURN(auto docs,
                          gap_documents(log, rep.marks, ends, names, o, &rep.gap_events));
  rep.gap_docs = docs.size();
  apply::Counters counters;
  apply::ApplyOptions ao;
  ao.dlq_source = "backfill";
  ao.reconcile_epoch = o.epoch;
  apply::Applier applier(sink, &store, counters, ao, o.stop);
  std::vector<apply::Item> items;
  items.reserve(docs.size());
  for (auto& d : docs) items.push_back(apply::Item{std::move(d), "", std::nullopt});
  for (size_t i = 0; i < items.size(); i += 500) {
    std::vector<const apply::Item*> chunk;
    for (size_t j = i; j < std::min(items.size(), i + 500); ++j) chunk.push_back(&items[j]);
    TANDEM_RETURN_IF_ERROR(applier.apply_reconciles(chunk));
  }
  rep.gap_s = secs_since(t0);
  TANDEM_RETURN_IF_ERROR(store.put("backfill.snapshot." + o.snapshot + ".done", "1"));
  return rep;
}

}  // namespace tandem::backfill
