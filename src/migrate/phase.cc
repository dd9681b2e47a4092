// The persisted phase machine, the flip record and the cutover lock.
#include <cstdlib>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>

#include "migrate/migrate.h"

namespace tandem::migrate {

using json = nlohmann::json;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

constexpr std::array<std::pair<Phase, std::string_view>, 9> kPhases{{
    {Phase::kPlanned, "planned"},
    {Phase::kCapturing, "capturing"},
    {Phase::kCopying, "copying"},
    {Phase::kConverging, "converging"},
    {Phase::kVerified, "verified"},
    {Phase::kCutOver, "cut-over"},
    {Phase::kRolledBack, "rolled-back"},
    {Phase::kFinalized, "finalized"},
    {Phase::kAborted, "aborted"},
}};

// What the user should run instead, for a refused transition.
std::string hint(Phase from, Phase to) {
  if (from == Phase::kFinalized || from == Phase::kAborted) {
    return "the migration has ended; start a new one under another name";
  }
  if (to == Phase::kCutOver) return "run `tandem migrate start` and a verify first";
  if (to == Phase::kRolledBack) return "only a cut-over migration can roll back";
  if (to == Phase::kFinalized) return "only a cut-over migration can be finalized";
  if (to == Phase::kAborted) return "roll back first, then abort";
  return "phases move forward: planned, capturing, copying, converging, verified";
}

}  // namespace

std::string_view phase_name(Phase p) {
  for (const auto& [ph, name] : kPhases) {
    if (ph == p) return name;
  }
  return "?";
}

Result<Phase> parse_phase(std::string_view s) {
  for (const auto& [ph, name] : kPhases) {
    if (name == s) return ph;
  }
  return error(Code::kCorruption, "unknown migration phase '" + std::string(s) + "'");
}

Status check_transition(Phase from, Phase to) {
  if (from == to) return Status::ok();
  bool ok = false;
  switch (from) {
    case Phase::kPlanned:
      ok = to == Phase::kCapturing || to == Phase::kAborted;
      break;
    case Phase::kCapturing:
      ok = to == Phase::kCopying || to == Phase::kAborted;
      break;
    case Phase::kCopying:
      ok = to == Phase::kConverging || to == Phase::kAborted;
      break;
    case Phase::kConverging:
      ok = to == Phase::kVerified || to == Phase::kAborted;
      break;
    case Phase::kVerified:
      // A failed re-verify sends it back to converging.
      ok = to == Phase::kCutOver || to == Phase::kConverging || to == Phase::kAborted;
      break;
    case Phase::kCutOver:
      // Never straight to aborted: green is the primary; roll back first.
      ok = to == Phase::kRolledBack || to == Phase::kFinalized;
      break;
    case Phase::kRolledBack:
      ok = to == Phase::kCutOver || to == Phase::kAborted;
      break;
    case Phase::kFinalized:
    case Phase::kAborted:
      ok = false;
      break;
  }
  if (ok) return Status::ok();
  return error(Code::kFailedPrecondition, "the migration is " + std::string(phase_name(from)) +
                                              " and cannot become " + std::string(phase_name(to)) +
                                              ": " + hint(from, to));
}

namespace {

json flip_to_json(const FlipRecord& f) {
  json px = json::array();
  for (const auto& p : f.proxies) {
    px.push_back({{"proxy", p.proxy}, {"held_us", p.held_us}, {"error", p.error}});
  }
  return {{"id", f.id},
          {"kind", f.kind},
          {"step", f.step},
          {"from_epoch", f.from_epoch.get()},
          {"to_epoch", f.to_epoch.get()},
          {"from_primary", f.from_primary},
          {"to_primary", f.to_primary},
          {"fence", f.fence},
          {"started_ms", f.started_ms},
          {"finished_ms", f.finished_ms},
          {"decided_ms", f.decided_ms},
          {"decided_commit", f.decided_commit},
          {"abort_reason", f.abort_reason},
          {"proxies", px},
          {"total_held_us", f.total_held_us},
          {"steps_us",
           {{"prepare", f.prepare_us},
            {"fence", f.fence_us},
            {"catchup", f.catchup_us},
            {"decide", f.decide_us},
            {"commit", f.commit_us},
            {"predrain", f.predrain_us}}},
          {"lag_at_hold", f.lag_at_hold}};
}

FlipRecord flip_from_json(const json& j) {
  FlipRecord f;
  f.id = j.value("id", "");
  f.kind = j.value("kind", "");
  f.step = j.value("step", "");
  f.from_epoch = Epoch(j.value("from_epoch", 0u));
  f.to_epoch = Epoch(j.value("to_epoch", 0u));
  f.from_primary = j.value("from_primary", "");
  f.to_primary = j.value("to_primary", "");
  f.fence = j.value("fence", std::vector<int64_t>{});
  f.started_ms = j.value("started_ms", int64_t{0});
  f.finished_ms = j.value("finished_ms", int64_t{0});
  f.decided_ms = j.value("decided_ms", int64_t{0});
  f.decided_commit = j.value("decided_commit", false);
  f.abort_reason = j.value("abort_reason", "");
  for (const auto& p : j.value("proxies", json::array())) {
    f.proxies.push_back(
        {p.value("proxy", ""), p.value("held_us", int64_t{-1}), p.value("error", "")});
  }
  f.total_held_us = j.value("total_held_us", int64_t{-1});
  if (j.contains("steps_us") && j["steps_us"].is_object()) {
    const auto& st = j["steps_us"];
    f.prepare_us = st.value("prepare", int64_t{-1});
    f.fence_us = st.value("fence", int64_t{-1});
    f.catchup_us = st.value("catchup", int64_t{-1});
    f.decide_us = st.value("decide", int64_t{-1});
    f.commit_us = st.value("commit", int64_t{-1});
    f.predrain_us = st.value("predrain", int64_t{-1});
  }
  f.lag_at_hold = j.value("lag_at_hold", int64_t{-1});
  return f;
}

json state_to_json(const MigrationState& s) {
  json hist = json::array();
  for (const auto& h : s.history) {
    hist.push_back(
        {{"phase", std::string(phase_name(h.phase))}, {"at_ms", h.at_ms}, {"note", h.note}});
  }
  json forced = json::array();
  for (const auto& f : s.forced) {
    forced.push_back({{"at_ms", f.at_ms},
                      {"action", f.action},
                      {"reason", f.reason},
                      {"failing_gates", f.failing_gates}});
  }
  json flips = json::array();
  for (const auto& f : s.flips) flips.push_back(flip_to_json(f));
  return {{"v", 1},
          {"phase", std::string(phase_name(s.phase))},
          {"epoch", s.epoch.get()},
          {"primary", s.primary},
          {"history", hist},
          {"forced", forced},
          {"flips", flips}};
}

Result<MigrationState> state_from_json(const std::string& raw, const std::string& key) {
  json j = json::parse(raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return error(Code::kCorruption, "state key " + key + ": not a JSON object");
  }
  try {
    MigrationState s;
    TANDEM_ASSIGN_OR_RETURN(s.phase, parse_phase(j.at("phase").get<std::string>()));
    s.epoch = Epoch(j.at("epoch").get<uint32_t>());
    s.primary = j.at("primary").get<std::string>();
    for (const auto& h : j.value("history", json::array())) {
      TANDEM_ASSIGN_OR_RETURN(Phase p, parse_phase(h.at("phase").get<std::string>()));
      s.history.push_back({p, h.value("at_ms", int64_t{0}), h.value("note", "")});
    }
    for (const auto& f : j.value("forced", json::array())) {
      s.forced.push_back({f.value("at_ms", int64_t{0}), f.value("action", ""),
                          f.value("reason", ""),
                          f.value("failing_gates", std::vector<std::string>{})});
    }
    for (const auto& f : j.value("flips", json::array())) s.flips.push_back(flip_from_json(f));
    return s;
  } catch (const json::exception& e) {
    return error(Code::kCorruption, "state key " + key + ": " + e.what());
  }
}

}  // namespace

Result<std::unique_ptr<Migration>> Migration::open(state::Store& store, std::string name,
                                                   Epoch initial_epoch) {
  std::unique_ptr<Migration> m(new Migration(store, std::move(name)));
  const std::string k = m->key("state");
  TANDEM_ASSIGN_OR_RETURN(auto raw, store.get(k));
  if (raw) {
    TANDEM_ASSIGN_OR_RETURN(m->st_, state_from_json(*raw, k));
    return m;
  }
  m->st_.epoch = initial_epoch;
  m->st_.history.push_back({Phase::kPlanned, now_ms(), "plan recorded"});
  // Create-if-absent: two first runs racing both end up reading one state.
  TANDEM_ASSIGN_OR_RETURN(bool created,
                          store.compare_and_put(k, std::nullopt, state_to_json(m->st_).dump()));
  if (!created) {
    TANDEM_ASSIGN_OR_RETURN(auto again, store.get(k));
    TANDEM_ASSIGN_OR_RETURN(m->st_, state_from_json(again.value_or("{}"), k));
  }
  return m;
}

Status Migration::save() {
  return store_.put(key("state"), state_to_json(st_).dump());
}

Status Migration::advance(Phase to, std::string_view note) {
  TANDEM_RETURN_IF_ERROR(check_transition(st_.phase, to));
  if (st_.phase == to) return Status::ok();
  MigrationState next = st_;
  next.phase = to;
  next.history.push_back({to, now_ms(), std::string(note)});
  TANDEM_RETURN_IF_ERROR(store_.put(key("state"), state_to_json(next).dump()));
  st_ = std::move(next);
  return Status::ok();
}

Status Migration::record_force(ForceRecord f) {
  if (f.reason.empty()) {
    return error(Code::kInvalidArgument, "--force needs a reason (it is recorded)");
  }
  MigrationState next = st_;
  next.forced.push_back(std::move(f));
  TANDEM_RETURN_IF_ERROR(store_.put(key("state"), state_to_json(next).dump()));
  st_ = std::move(next);
  return Status::ok();
}

Result<std::optional<FlipRecord>> Migration::current_flip() {
  TANDEM_ASSIGN_OR_RETURN(auto raw, store_.get(key("flip")));
  if (!raw || raw->empty()) return std::optional<FlipRecord>();
  json j = json::parse(*raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return error(Code::kCorruption, "state key " + key("flip") + ": not a JSON object");
  }
  return std::optional<FlipRecord>(flip_from_json(j));
}

Status Migration::save_flip(const FlipRecord& f) {
  return store_.put(key("flip"), flip_to_json(f).dump());
}

Status Migration::finish_flip(const FlipRecord& f, std::optional<Phase> to) {
  MigrationState next = st_;
  if (to) {
    TANDEM_RETURN_IF_ERROR(check_transition(st_.phase, *to));
    if (*to != st_.phase) next.history.push_back({*to, now_ms(), f.kind + " " + f.id});
    next.phase = *to;
  }
  if (f.step == "released" || f.step == "committed") {
    next.epoch = f.to_epoch;
    next.primary = f.to_primary;
  }
  next.flips.push_back(f);
  // The state first, then the current flip cleared: a crash between the two
  // leaves a finished flip that a re-run recognises (its id is in flips).
  TANDEM_RETURN_IF_ERROR(store_.put(key("state"), state_to_json(next).dump()));
  st_ = std::move(next);
  return store_.put(key("flip"), "");
}

Status Migration::record_verify(const VerifySummary& v) {
  json j = {{"at_ms", v.at_ms},         {"parity", v.parity},       {"differences", v.differences},
            {"explained", v.explained}, {"direction", v.direction}, {"epoch", v.epoch}};
  return store_.put(key("last_verify"), j.dump());
}

Result<std::optional<Migration::VerifySummary>> Migration::last_verify() {
  TANDEM_ASSIGN_OR_RETURN(auto raw, store_.get(key("last_verify")));
  if (!raw) return std::optional<VerifySummary>();
  json j = json::parse(*raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return error(Code::kCorruption, "state key " + key("last_verify") + ": not a JSON object");
  }
  VerifySummary v;
  v.at_ms = j.value("at_ms", int64_t{0});
  v.parity = j.value("parity", false);
  v.differences = j.value("differences", int64_t{0});
  v.explained = j.value("explained", int64_t{0});
  v.direction = j.value("direction", "");
  v.epoch = j.value("epoch", int64_t{0});
  return std::optional<VerifySummary>(v);
}

Result<std::string> Migration::acquire_lock(
    const std::string& holder, const std::function<bool(const std::string&)>& is_alive) {
  const std::string k = key("lock");
  for (int attempt = 0; attempt < 3; ++attempt) {
    TANDEM_ASSIGN_OR_RETURN(auto cur, store_.get(k));
    if (!cur || cur->empty()) {
      std::optional<std::string_view> expected;
      if (cur) expected = std::string_view(*cur);
      TANDEM_ASSIGN_OR_RETURN(bool won, store_.compare_and_put(k, expected, holder));
      if (won) return std::string();
      continue;  // someone else won the race; look again
    }
    if (*cur == holder) return std::string();
    if (is_alive && is_alive(*cur)) {
      return error(Code::kFailedPrecondition,
                   "another `tandem migrate` (" + *cur + ") is running a flip of migration " +
                       name_ + "; wait for it, or stop it (a re-run resumes its flip)");
    }
    // Its holder is gone (kill -9): take over and resume its flip.
    TANDEM_ASSIGN_OR_RETURN(bool won, store_.compare_and_put(k, std::string_view(*cur), holder));
    if (won) return *cur;
  }
  return error(Code::kFailedPrecondition, "the cutover lock of migration " + name_ +
                                              " keeps changing hands; another run is active");
}

Status Migration::release_lock(const std::string& holder) {
  TANDEM_ASSIGN_OR_RETURN(bool ok, store_.compare_and_put(key("lock"), holder, ""));
  (void)ok;  // not ours any more (taken over): nothing to release
  return Status::ok();
}

Status Migration::put(std::string_view k, std::string_view value) {
  return store_.put(key("kv/" + std::string(k)), value);
}

Result<std::optional<std::string>> Migration::get(std::string_view k) {
  return store_.get(key("kv/" + std::string(k)));
}

namespace {
std::string mkey(std::string_view migration, std::string_view k) {
  return "migrate/" + std::string(migration) + "/" + std::string(k);
}
}  // namespace

Status stop_replication(state::Store& store, std::string_view migration) {
  return store.put(mkey(migration, "replication"), "stopped");
}

Result<bool> replication_stopped(state::Store& store, std::string_view migration) {
  TANDEM_ASSIGN_OR_RETURN(auto v, store.get(mkey(migration, "replication")));
  return v && *v == "stopped";
}

Status ack_loader_stopped(state::Store& store, std::string_view migration, std::string_view group,
                          std::string_view summary) {
  return store.put(mkey(migration, "loader-stopped/" + std::string(group)), summary);
}

Result<std::optional<std::string>> loader_stopped(state::Store& store, std::string_view migration,
                                                  std::string_view group) {
  return store.get(mkey(migration, "loader-stopped/" + std::string(group)));
}

Status record_loader_positions(state::Store& store, std::string_view migration,
                               std::string_view group,
                               const std::map<int32_t, int64_t>& next_offsets) {
  for (const auto& [p, o] : next_offsets) {
    TANDEM_RETURN_IF_ERROR(
        store.put(mkey(migration, "loader-pos/" + std::string(group) + "/" + std::to_string(p)),
                  std::to_string(o)));
  }
  return Status::ok();
}

Result<std::optional<int64_t>> loader_position(state::Store& store, std::string_view migration,
                                               std::string_view group, int32_t partition) {
  TANDEM_ASSIGN_OR_RETURN(auto v, store.get(mkey(migration, "loader-pos/" + std::string(group) +
                                                                "/" + std::to_string(partition))));
  if (!v) return std::optional<int64_t>();
  char* end = nullptr;
  const long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || end != v->c_str() + v->size()) return std::optional<int64_t>();
  return std::optional<int64_t>(x);
}

}  // namespace tandem::migrate
