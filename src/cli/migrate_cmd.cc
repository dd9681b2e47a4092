// `tandem migrate plan|start|verify|status|cutover|rollback|finalize|abort`:
// the whole move driven from one plan file (docs/cutover.md). Composes the
// components (meta, backfill, verify, log, state, migrate) through their
// interfaces; the proxies and loaders are separate processes reached over
// their admin APIs and the log. Every subcommand is idempotent and resumes
// from the state store after kill -9.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <fnmatch.h>

#include <cerrno>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "apply/apply.h"
#include "backfill/backfill.h"
#include "cli/cli.h"
#include "es/es.h"
#include "event/event.h"
#include "http/http.h"
#include "meta/meta.h"
#include "migrate/migrate.h"
#include "state/state.h"
#include "verify/verify.h"

namespace tandem::cli {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct MigrateFlags {
  std::string plan;
  bool json_out = false;
  std::string force;  // reason; non-empty = override failing gates
  int timeout_ms = 30000;
};

// ---- plan, store, clusters -------------------------------------------------

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

struct Ctx {
  migrate::Plan plan;
  std::unique_ptr<state::Store> store;
  std::unique_ptr<migrate::Migration> m;
  std::string token;  // admin bearer token (never printed)
  LogFlags log_flags;
  ControlChannel control;
};

Result<Ctx> open_ctx(const MigrateFlags& f) {
  Ctx c;
  TANDEM_ASSIGN_OR_RETURN(c.plan, migrate::load_plan(f.plan));
  const std::string dir =
      std::filesystem::absolute(f.plan).parent_path().string();  // relative paths: plan's dir
  c.plan.state = resolve(dir, c.plan.state);
  c.plan.log.dir = resolve(dir, c.plan.log.dir);
  c.plan.log.kafka_config = resolve(dir, c.plan.log.kafka_config);
  c.plan.proxies.token_file = resolve(dir, c.plan.proxies.token_file);
  if (!c.plan.proxies.token_file.empty()) {
    std::ifstream in(c.plan.proxies.token_file, std::ios::binary);
    if (!in) {
      return error(Code::kIo,
                   "proxies.token_file: cannot read '" + c.plan.proxies.token_file + "'");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    c.token = ss.str();
    while (!c.token.empty() && (c.token.back() == '\n' || c.token.back() == '\r')) {
      c.token.pop_back();
    }
  }
  if (c.plan.log.backend == migrate::LogSpec::Backend::kKafka) {
    c.log_flags.brokers = c.plan.log.brokers;
    c.log_flags.topic = c.plan.log.topic;
    c.log_flags.kafka_config = c.plan.log.kafka_config;
    TANDEM_ASSIGN_OR_RETURN(auto ko, kafka_options(c.log_flags));
    c.control = control_channel_for(&ko, "");
  } else {
    c.log_flags.dir = c.plan.log.dir;
    c.control = control_channel_for(nullptr, c.plan.log.dir);
  }
  TANDEM_ASSIGN_OR_RETURN(c.store, state::open_store(c.plan.state));
  TANDEM_ASSIGN_OR_RETURN(c.m, migrate::Migration::open(*c.store, c.plan.name));
  return c;
}

// A plan's cluster, connected the CLI's one way (ClusterFlags): the
// plan's TLS settings win over the environment's.
Result<std::unique_ptr<es::Client>> connect_cluster(const std::string& label,
                                                    const migrate::ClusterSpec& spec,
                                                    int timeout_ms) {
  ClusterFlags f;
  f.url = spec.url;
  f.env_prefix = spec.env_prefix;
  f.ca_file = spec.tls.ca_file;
  f.cert_file = spec.tls.cert_file;
  f.key_file = spec.tls.key_file;
  f.insecure = spec.tls.insecure;
  f.timeout_ms = timeout_ms;
  auto o = f.client_options();
  if (!o.is_ok()) return o.status().context(label);
  return es::connect(label, *o);
}

// ---- proxies' admin APIs ---------------------------------------------------

struct AdminAnswer {
  int status = 0;
  json body;
};

Result<AdminAnswer> admin_call(const Ctx& c, const std::string& base, const std::string& method,
                               const std::string& target, std::chrono::milliseconds timeout) {
  http::ClientOptions o;
  TANDEM_ASSIGN_OR_RETURN(o.url, http::Url::parse(base));
  o.request_timeout = timeout;
  o.connect_timeout = std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(3));
  o.max_retries = 0;
  TANDEM_ASSIGN_OR_RETURN(auto client, http::make_client(o));
  http::Request req;
  req.method = method;
  req.target = target;
  req.idempotent = false;
  if (!c.token.empty()) req.headers.push_back({"Authorization", "Bearer " + c.token});
  auto r = client->send(req);
  if (!r.is_ok()) return r.status().context("proxy admin " + base);
  AdminAnswer a;
  a.status = r->status;
  a.body = json::parse(r->body, nullptr, false);
  if (a.body.is_discarded()) a.body = json(r->body);
  return a;
}

std::string admin_reason(const AdminAnswer& a) {
  if (a.body.is_object() && a.body.contains("error")) {
    const auto& e = a.body["error"];
    if (e.is_object() && e.contains("reason")) return e["reason"].get<std::string>();
  }
  return a.body.dump();
}

// ---- facts for status and the gates ----------------------------------------

int64_t total_lag(const std::vector<log::PartitionLag>& lags) {
  int64_t t = 0;
  for (const auto& l : lags) t += l.lag();
  return t;
}

Result<int64_t> group_lag(log::Log& lg, const std::string& group) {
  TANDEM_ASSIGN_OR_RETURN(auto lags, lg.group_lag(group));
  return total_lag(lags);
}

// Every alias on the plan's indices resolves to the same index names on
// both sides; "" when they agree, else what differs.
Result<std::string> alias_problem(es::Client& blue, es::Client& green,
                                  const std::vector<std::string>& patterns) {
  auto aliases_of = [&](es::Client& c) -> Result<std::map<std::string, std::set<std::string>>> {
    std::map<std::string, std::set<std::string>> out;
    for (const auto& p : patterns) {
      auto r = c.call("GET", "/" + p + "/_alias?ignore_unavailable=true&allow_no_indices=true");
      if (!r.is_ok()) {
        if (r.status().code() == Code::kNotFound) continue;
        return r.status();
      }
      for (auto& [idx, body] : r->items()) {
        if (!body.contains("aliases")) continue;
        for (auto& [alias, _] : body["aliases"].items()) out[alias].insert(idx);
      }
    }
    return out;
  };
  TANDEM_ASSIGN_OR_RETURN(auto b, aliases_of(blue));
  TANDEM_ASSIGN_OR_RETURN(auto g, aliases_of(green));
  auto list = [](const std::set<std::string>& s) {
    std::string o = "[";
    for (const auto& x : s) o += (o.size() > 1 ? "," : "") + x;
    return o + "]";
  };
  std::string problem;
  std::set<std::string> names;
  for (const auto& [a, _] : b) names.insert(a);
  for (const auto& [a, _] : g) names.insert(a);
  for (const auto& a : names) {
    const auto bi = b.count(a) ? b[a] : std::set<std::string>{};
    const auto gi = g.count(a) ? g[a] : std::set<std::string>{};
    if (bi != gi) {
      if (!problem.empty()) problem += "; ";
      problem += "alias '" + a + "' -> " + list(bi) + " on blue but " + list(gi) + " on green";
    }
  }
  return problem;
}

// The alias guard (docs/cutover.md): on `primary`, every alias that
// resolves to an index of the plan must resolve only to indices of the
// plan. An index outside the plan under such an alias is not replicated,
// so reads through the alias see documents the other side lacks (or the
// same document twice). "" when the guard passes.
Result<std::string> alias_guard_problem(es::Client& primary, const std::string& label,
                                        const std::vector<std::string>& patterns) {
  auto in_plan = [&](const std::string& idx) {
    for (const auto& p : patterns) {
      if (::fnmatch(p.c_str(), idx.c_str(), 0) == 0) return true;
    }
    return false;
  };
  std::set<std::string> aliases;
  for (const auto& p : patterns) {
    auto r = primary.call("GET", "/" + p + "/_alias?ignore_unavailable=true&allow_no_indices=true");
    if (!r.is_ok()) {
      if (r.status().code() == Code::kNotFound) continue;
      return r.status();
    }
    for (auto& [idx, body] : r->items()) {
      if (!body.contains("aliases")) continue;
      for (auto& [alias, _] : body["aliases"].items()) aliases.insert(alias);
    }
  }
  std::string problem;
  for (const auto& a : aliases) {
    auto r = primary.call("GET", "/_alias/" + http::encode_path_segment(a));
    if (!r.is_ok()) return r.status().context("alias " + a);
    for (auto& [idx, _] : r->items()) {
      if (in_plan(idx)) continue;
      if (!problem.empty()) problem += "; ";
      problem += "on " + label + " (primary): alias '" + a + "' also resolves to '" + idx +
                 "', which is outside the plan and not replicated";
    }
  }
  return problem;
}

struct Facts {
  std::optional<int64_t> forward_lag, reverse_lag;
  std::string lag_error;
  std::optional<int64_t> dead_letters;
  std::vector<std::string> needs_verify;
  std::string blue_health, green_health;
  std::optional<std::string> aliases;
  std::optional<std::string> alias_guard;
  std::optional<migrate::Migration::VerifySummary> last_verify;
  std::optional<migrate::GateInputs::QueryMatch> last_compare;
  json proxies = json::array();
};

Facts gather(Ctx& c, int timeout_ms, bool with_proxies) {
  Facts f;
  auto lg = open_log(c.log_flags);
  if (lg.is_ok()) {
    auto fl = group_lag(**lg, c.plan.log.group);
    if (fl.is_ok()) {
      f.forward_lag = *fl;
    } else {
      f.lag_error = fl.status().to_string();
    }
    auto rl = group_lag(**lg, c.plan.log.reverse_group);
    if (rl.is_ok()) f.reverse_lag = *rl;
  } else {
    f.lag_error = lg.status().to_string();
  }
  if (auto n = c.store->count_dead_letters(); n.is_ok()) f.dead_letters = *n;
  if (auto nv = c.store->needs_verify(); nv.is_ok()) {
    for (const auto& v : *nv) f.needs_verify.push_back(v.index.get());
  }
  if (auto v = c.m->last_verify(); v.is_ok()) f.last_verify = *v;
  if (auto q = verify::last_compare(*c.store); q.is_ok() && *q) {
    f.last_compare = migrate::GateInputs::QueryMatch{(*q)->time_ms, (*q)->match_rate, (*q)->queries,
                                                     (*q)->lagging};
  }
  auto blue = connect_cluster("blue", c.plan.blue, timeout_ms);
  auto green = connect_cluster("green", c.plan.green, timeout_ms);
  if (blue.is_ok()) {
    if (auto h = (*blue)->health(); h.is_ok()) f.blue_health = h->status;
  }
  if (green.is_ok()) {
    if (auto h = (*green)->health(); h.is_ok()) f.green_health = h->status;
  }
  if (blue.is_ok() && green.is_ok()) {
    auto a = alias_problem(**blue, **green, c.plan.indices);
    if (a.is_ok()) {
      f.aliases = *a;
    }
  }
  const bool green_primary = c.m->state().primary == "green";
  auto& primary = green_primary ? green : blue;
  if (primary.is_ok()) {
    auto g = alias_guard_problem(**primary, green_primary ? "green" : "blue", c.plan.indices);
    if (g.is_ok()) f.alias_guard = *g;
  }
  if (with_proxies) {
    for (const auto& p : c.plan.proxies.admin) {
      auto a = admin_call(c, p, "GET", "/status", std::chrono::milliseconds(3000));
      if (!a.is_ok()) {
        f.proxies.push_back({{"admin", p}, {"error", a.status().to_string()}});
      } else if (a->status != 200) {
        f.proxies.push_back({{"admin", p}, {"error", admin_reason(*a)}});
      } else {
        f.proxies.push_back({{"admin", p}, {"status", a->body}});
      }
    }
  }
  return f;
}

migrate::GateInputs gate_inputs(const Facts& f, bool rollback, Epoch epoch) {
  migrate::GateInputs in;
  in.epoch = epoch.get();
  in.now_ms = migrate::now_ms();
  in.target = rollback ? "blue" : "green";
  in.lag = rollback ? f.reverse_lag : f.forward_lag;
  in.last_verify = f.last_verify;
  in.last_compare = f.last_compare;
  in.needs_verify = f.needs_verify;
  in.dead_letters = f.dead_letters;
  in.target_health = rollback ? f.blue_health : f.green_health;
  in.alias_problem = f.aliases;
  in.alias_guard_problem = f.alias_guard;
  return in;
}

// The gates of a flip, the same for a cutover and a rollback: verify runs
// across epochs (docs/verify.md), so a rollback needs a verify of the
// direction replication runs in now, like a cutover.
std::vector<std::unique_ptr<migrate::Gate>> gates_for(const migrate::Plan& p) {
  return migrate::default_gates(p.gates);
}

// ---- plan ------------------------------------------------------------------

int run_plan(const MigrateFlags& f) {
  auto c = open_ctx(f);
  if (!c.is_ok()) return fail(c.status());
  auto blue = connect_cluster("blue", c->plan.blue, f.timeout_ms);
  if (!blue.is_ok()) return fail(blue.status().context("plan: blue unreachable"));
  auto green = connect_cluster("green", c->plan.green, f.timeout_ms);
  if (!green.is_ok()) return fail(green.status().context("plan: green unreachable"));
  const auto& bv = (*blue)->info().version;
  const auto& gv = (*green)->info().version;
  if (c->plan.upgrade) {
    // The supported-moves table decides, not a version comparison: 7.17 ->
    // OpenSearch 2.19 is an upgrade although 2 < 7, and OpenSearch ->
    // Elasticsearch is refused whatever the numbers say.
    // A plan the table refuses is bad input (exit 2), like any invalid plan.
    Status pair = meta::check_pair((*blue)->info(), (*green)->info());
    if (!pair.is_ok()) {
      return fail(error(Code::kInvalidArgument, "plan says upgrade, but blue -> green is an " +
                                                    pair.message()));
    }
  }
  for (const auto& p : c->plan.proxies.admin) {
    auto a = admin_call(*c, p, "GET", "/status", std::chrono::milliseconds(3000));
    if (!a.is_ok()) return fail(a.status().context("plan: proxy unreachable"));
    if (a->status != 200)
      return fail(error(Code::kUnavailable, "proxy " + p + ": " + admin_reason(*a)));
  }
  auto lg = open_log(c->log_flags);
  if (!lg.is_ok()) return fail(lg.status().context("plan: change log"));
  fmt::print("plan {}: blue {} ({}), green {} ({}), {} prox{}, log {}, control channel {}\n",
             c->plan.name, c->plan.blue.url, bv.to_string(), c->plan.green.url, gv.to_string(),
             c->plan.proxies.admin.size(), c->plan.proxies.admin.size() == 1 ? "y" : "ies",
             (*lg)->describe(), c->control.describe());
  fmt::print("phase {}, epoch {}, primary {}\n", migrate::phase_name(c->m->phase()),
             c->m->state().epoch.get(), c->m->state().primary);
  return 0;
}

// ---- start -----------------------------------------------------------------

void maybe_crash(const std::string& step);  // test hook, below

Status check_proxies_capturing(Ctx& c, const std::string& want_primary) {
  for (const auto& p : c.plan.proxies.admin) {
    TANDEM_ASSIGN_OR_RETURN(auto a, admin_call(c, p, "GET", "/status", std::chrono::seconds(3)));
    if (a.status != 200) return error(Code::kUnavailable, "proxy " + p + ": " + admin_reason(a));
    if (a.body.value("fail_closed", false)) {
      return error(Code::kFailedPrecondition,
                   "proxy " + p + " is failing closed (its log is unavailable): not capturing");
    }
    const auto prim = a.body["roles"]["primary"].value("name", "");
    if (prim != want_primary) {
      return error(Code::kFailedPrecondition, "proxy " + p + " forwards to " + prim +
                                                  ", the migration expects " + want_primary);
    }
    if (!a.body.contains("capture") || a.body["capture"].is_null()) {
      return error(Code::kFailedPrecondition, "proxy " + p + " reports no capture status");
    }
  }
  return Status::ok();
}

int run_start(const MigrateFlags& f) {
  auto cr = open_ctx(f);
  if (!cr.is_ok()) return fail(cr.status());
  Ctx& c = *cr;
  const auto ph = c.m->phase();
  if (ph != migrate::Phase::kPlanned && ph != migrate::Phase::kCapturing &&
      ph != migrate::Phase::kCopying) {
    fmt::print("migration {} is already {}: nothing to start\n", c.plan.name,
               migrate::phase_name(ph));
    return ph == migrate::Phase::kAborted ? 1 : 0;
  }
  if (Status s = check_proxies_capturing(c, "blue"); !s.is_ok()) return fail(s);
  // A re-run after kill -9 may find the migration copying already: phases
  // never move back, the steps below are idempotent.
  if (ph != migrate::Phase::kCopying) {
    if (Status s = c.m->advance(migrate::Phase::kCapturing, "every proxy capturing"); !s.is_ok()) {
      return fail(s);
    }
  }
  auto blue = connect_cluster("blue", c.plan.blue, f.timeout_ms);
  if (!blue.is_ok()) return fail(blue.status());
  auto green = connect_cluster("green", c.plan.green, f.timeout_ms);
  if (!green.is_ok()) return fail(green.status());
  // Metadata first (idempotent), so the backfill and the loader find the
  // indices on green.
  for (const auto& pattern : c.plan.indices) {
    meta::PlanOptions po;
    po.index_pattern = pattern;
    auto mp = meta::make_plan(**blue, **green, po);
    if (!mp.is_ok()) return fail(mp.status().context("metadata plan for " + pattern));
    Status s = meta::apply_plan(**green, *mp, meta::MigrationOptions{});
    if (!s.is_ok()) return fail(s.context("applying metadata for " + pattern));
  }
  auto lg = open_log(c.log_flags);
  if (!lg.is_ok()) return fail(lg.status());
  // The log's end marks when the copy starts: every write after them is in
  // the log, every write before them is in the copy (recorded once).
  auto marks = c.m->get("end_marks");
  if (!marks.is_ok()) return fail(marks.status());
  if (!*marks) {
    auto ends = (*lg)->end_offsets();
    if (!ends.is_ok()) return fail(ends.status());
    json j = json::array();
    for (auto o : *ends) j.push_back(o.get());
    if (Status s = c.m->put("end_marks", j.dump()); !s.is_ok()) return fail(s);
    fmt::print("log end marks recorded: {}\n", j.dump());
  }
  if (Status s = c.m->advance(migrate::Phase::kCopying, "metadata applied, end marks recorded");
      !s.is_ok()) {
    return fail(s);
  }
  maybe_crash("copying");
  const int64_t t0 = migrate::now_ms();
  uint64_t docs = 0;
  for (const auto& pattern : c.plan.indices) {
    apply::EsSinkOptions so;
    auto sink = apply::make_es_sink(**blue, **green, so);
    backfill::Options o;
    o.job = "migrate-" + c.plan.name;
    o.index_pattern = pattern;
    o.epoch = c.m->state().epoch;
    o.slices = static_cast<int>(c.plan.backfill.slices);
    o.batch_size = static_cast<int>(c.plan.backfill.batch_size);
    o.throttle_docs_per_s = static_cast<double>(c.plan.backfill.throttle);
    o.stop = &stop_on_signals();
    o.progress = [&c](std::string_view line) {
      std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
      (void)c.m->put("backfill_progress", line);
    };
    auto rep = backfill::run(**blue, *sink, *c.store, lg->get(), o);
    if (!rep.is_ok()) return fail(rep.status().context("backfill of " + pattern));
    std::fputs(rep->summary().c_str(), stderr);
    if (!rep->ok())
      return fail(
          error(Code::kUnavailable,
                "backfill of " + pattern + " incomplete; re-run `tandem migrate start` to resume"));
    for (const auto& i : rep->indices) docs += i.docs;
  }
  maybe_crash("copied");
  json bf = {{"docs", docs}, {"ms", migrate::now_ms() - t0}, {"done_ms", migrate::now_ms()}};
  (void)c.m->put("backfill", bf.dump());
  if (Status s = c.m->advance(migrate::Phase::kConverging, "backfill complete"); !s.is_ok()) {
    return fail(s);
  }
  fmt::print(
      "migration {}: converging ({} documents copied); run the loader, then `tandem "
      "migrate verify`\n",
      c.plan.name, docs);
  return 0;
}

// ---- verify ----------------------------------------------------------------

// One direction's parity, quick (ids and versions) and deep (content), over
// every pattern of the plan. `src` is the side whose documents are the
// truth for this comparison; at the current epoch (docs/verify.md, "Across
// epochs") a follower document written since the last flip must carry
// exactly the version the primary's _seq_no implies, and one unchanged
// since an earlier epoch is proven by content only.
struct Parity {
  std::string direction;  // "green -> blue"
  uint64_t quick_docs = 0, prior_epoch = 0, deep_docs = 0;
  int64_t quick_diffs = 0, quick_unexplained = 0, deep_diffs = 0, deep_unexplained = 0;
  double quick_pct = 100, deep_pct = 100;
  bool ok() const { return quick_unexplained == 0 && deep_unexplained == 0; }
  std::string line() const {
    // Floor, not round: 99.999% must never print as 100.00%.
    auto pct = [](double p) { return std::floor(p * 100.0) / 100.0; };
    return fmt::format(
        "parity {}: quick {:.2f}% ({} documents, {} difference(s), {} unexplained{}); content "
        "{:.2f}% ({} documents, {} difference(s), {} unexplained): {}",
        direction, pct(quick_pct), quick_docs, quick_diffs, quick_unexplained,
        prior_epoch > 0
            ? fmt::format("; {} unchanged since an earlier epoch, proven by content", prior_epoch)
            : std::string(),
        pct(deep_pct), deep_docs, deep_diffs, deep_unexplained, ok() ? "PARITY" : "NOT AT PARITY");
  }
};

Result<Parity> parity(Ctx& c, es::Client& src, const std::string& src_label, es::Client& dst,
                      const std::string& dst_label) {
  Parity p;
  p.direction = src_label + " -> " + dst_label;
  TANDEM_ASSIGN_OR_RETURN(auto dl, verify::dead_letter_keys(*c.store));
  verify::Report quick_all;
  verify::DeepReport deep_all;
  for (const auto& pattern : c.plan.indices) {
    verify::Options o;
    o.epoch = c.m->state().epoch;
    o.dead_letters = dl;
    o.index_pattern = pattern;
    TANDEM_ASSIGN_OR_RETURN(auto q, verify::quick(src, dst, o));
    for (auto& i : q.indices) {
      p.prior_epoch += i.prior_epoch;
      p.quick_diffs += static_cast<int64_t>(i.missing + i.extra + i.stale + i.newer + i.unchecked +
                                            i.dead_lettered);
      quick_all.indices.push_back(std::move(i));
    }
    verify::DeepOptions d;
    d.epoch = c.m->state().epoch;
    d.dead_letters = dl;
    d.index_pattern = pattern;
    TANDEM_ASSIGN_OR_RETURN(auto dr, verify::deep(src, dst, d));
    for (auto& i : dr.indices) {
      p.deep_diffs += static_cast<int64_t>(i.missing + i.extra + i.content + i.routing +
                                           i.unchecked + i.dead_lettered);
      deep_all.indices.push_back(std::move(i));
    }
  }
  p.quick_docs = quick_all.documents();
  p.quick_unexplained = static_cast<int64_t>(quick_all.unexplained());
  p.quick_pct = quick_all.parity_percent();
  p.deep_docs = deep_all.documents();
  p.deep_unexplained = static_cast<int64_t>(deep_all.unexplained());
  p.deep_pct = deep_all.parity_percent();
  return p;
}

struct Clients {
  std::unique_ptr<es::Client> blue, green;
  es::Client& primary(const std::string& name) { return name == "green" ? *green : *blue; }
  es::Client& follower(const std::string& name) { return name == "green" ? *blue : *green; }
};

Result<Clients> connect_both(const Ctx& c, int timeout_ms) {
  Clients k;
  TANDEM_ASSIGN_OR_RETURN(k.blue, connect_cluster("blue", c.plan.blue, timeout_ms));
  TANDEM_ASSIGN_OR_RETURN(k.green, connect_cluster("green", c.plan.green, timeout_ms));
  return k;
}

// Verifies the direction replication runs in now (primary -> follower), at
// the current epoch, quick and deep, and records it for the gates. Before
// the first cutover it also moves converging <-> verified.
int run_verify(const MigrateFlags& f) {
  auto cr = open_ctx(f);
  if (!cr.is_ok()) return fail(cr.status());
  Ctx& c = *cr;
  const auto ph = c.m->phase();
  const bool before_cut = ph == migrate::Phase::kConverging || ph == migrate::Phase::kVerified;
  if (!before_cut && ph != migrate::Phase::kCutOver && ph != migrate::Phase::kRolledBack) {
    return fail(error(Code::kFailedPrecondition,
                      "migrate verify runs from converging until finalize; the migration is " +
                          std::string(migrate::phase_name(ph))));
  }
  auto k = connect_both(c, f.timeout_ms);
  if (!k.is_ok()) return fail(k.status());
  const std::string prim = c.m->state().primary;
  const std::string foll = prim == "green" ? "blue" : "green";
  auto p = parity(c, k->primary(prim), prim, k->follower(prim), foll);
  if (!p.is_ok()) return fail(p.status());
  migrate::Migration::VerifySummary v;
  v.at_ms = migrate::now_ms();
  v.parity = p->ok();
  v.differences = std::max(p->quick_diffs, p->deep_diffs);
  v.explained = v.differences - std::max(p->quick_unexplained, p->deep_unexplained);
  v.direction = prim + "->" + foll;
  v.epoch = c.m->state().epoch.get();
  if (Status s = c.m->record_verify(v); !s.is_ok()) return fail(s);
  fmt::print("{} (epoch {})\n", p->line(), v.epoch);
  if (before_cut) {
    Status s = c.m->advance(v.parity ? migrate::Phase::kVerified : migrate::Phase::kConverging,
                            v.parity ? "verify at parity" : "verify found differences");
    if (!s.is_ok()) return fail(s);
  }
  return v.parity ? 0 : 1;
}

// ---- the fenced flip -------------------------------------------------------

std::string holder_id() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return std::to_string(::getpid()) + "@" + host;
}

// A holder on this host whose pid is gone was killed: its lock is stale.
bool holder_alive(const std::string& holder) {
  const auto at = holder.find('@');
  if (at == std::string::npos) return true;
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  if (holder.substr(at + 1) != host) return true;  // another machine: assume alive
  const pid_t pid = static_cast<pid_t>(std::atoll(holder.substr(0, at).c_str()));
  if (pid <= 0) return false;
  if (::kill(pid, 0) == 0) {
    // Alive -- unless it is a zombie (killed, not yet reaped).
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(st, line);
    const auto rp = line.rfind(')');
    return !(rp != std::string::npos && rp + 2 < line.size() && line[rp + 2] == 'Z');
  }
  return errno != ESRCH;
}

// Test hook: TANDEM_MIGRATE_CRASH_AT=<step> makes the coordinator _exit(137)
// right after it persisted that step, to prove a re-run resumes or aborts
// cleanly (tests/e2e/cutover_e2e_it.cc). Never set in production.
void maybe_crash(const std::string& step) {
  const char* at = std::getenv("TANDEM_MIGRATE_CRASH_AT");
  if (at != nullptr && step == at) {
    std::fprintf(stderr, "TANDEM_MIGRATE_CRASH_AT=%s: exiting\n", at);
    std::fflush(stderr);
    ::_exit(137);
  }
}

int64_t us_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
}

struct Flip {
  Ctx& c;
  const MigrateFlags& f;
  migrate::FlipRecord rec;
  Clock::time_point hold_t0{};
  bool commit_attempted = false;  // a commit record may be on the channel
  // Opened before writes are held, so the held time pays no connects.
  std::unique_ptr<log::Log> ev_log;
  std::unique_ptr<log::Log> ctl_log;
  // Per partition, the highest committed offset of the fence's loader
  // known so far (from the log or from the loader's record).
  std::map<int32_t, int64_t> known_committed;
  // A background read of the group's offsets from the log (uses ev_log,
  // so declared after it: destroyed, i.e. waited for, first).
  std::future<Result<std::vector<log::PartitionLag>>> lag_read;

  Status save() { return c.m->save_flip(rec); }

  // Sends `step` to every proxy in parallel; per-proxy answers.
  std::vector<Result<AdminAnswer>> all(const std::string& step, const std::string& extra,
                                       std::chrono::milliseconds timeout) {
    std::vector<std::future<Result<AdminAnswer>>> fs;
    for (const auto& p : c.plan.proxies.admin) {
      fs.push_back(std::async(std::launch::async, [this, p, step, extra, timeout] {
        return admin_call(c, p, "POST", "/flip/" + step + "?id=" + rec.id + extra, timeout);
      }));
    }
    std::vector<Result<AdminAnswer>> out;
    for (auto& x : fs) out.push_back(x.get());
    return out;
  }

  // Records (or finds) the decision on the control channel. The first
  // decision recorded for this flip is the decision.
  // `check` reads the channel first; a fresh run under the lock skips it
  // (only a lock holder records decisions, and a resumed run always reads
  // before it decides), which keeps a Kafka consumer-group join out of the
  // time writes are held.
  Result<event::FlipDecision> decide(bool commit, bool check = true) {
    std::optional<event::FlipDecision> existing;
    if (check) {
      TANDEM_ASSIGN_OR_RETURN(existing, read_flip_decision(c.control, rec.id));
    }
    if (existing) {
      rec.decided_ms = existing->timestamp_ms;
      rec.decided_commit = existing->commit;
      return *existing;
    }
    event::FlipDecision d;
    d.flip = rec.id;
    d.commit = commit;
    d.epoch = commit ? rec.to_epoch : rec.from_epoch;
    d.primary = commit ? rec.to_primary : rec.from_primary;
    d.timestamp_ms = migrate::now_ms();
    TANDEM_RETURN_IF_ERROR(record_flip_decision(c.control, d, ctl_log.get()));
    if (!commit && commit_attempted) {
      // A commit append may have landed after all (its acknowledgement
      // was lost): the first record for the flip on the one-partition
      // channel is the decision, for us as for every proxy.
      TANDEM_ASSIGN_OR_RETURN(auto first, read_flip_decision(c.control, rec.id));
      if (!first) {
        return error(Code::kInternal,
                     "decision of flip " + rec.id + " not readable after recording it");
      }
      d = *first;
    }
    rec.decided_ms = d.timestamp_ms;
    rec.decided_commit = d.commit;
    return d;
  }

  // Before any commit decision: release every proxy to the old primary.
  int abort(const std::string& reason) {
    rec.abort_reason = reason;
    auto d = decide(false);
    if (!d.is_ok()) {
      if (commit_attempted) {
        // A commit may be on the channel: releasing to the old primary
        // could split the proxies. Hold; a re-run reads the decision.
        (void)save();
        fmt::print(stderr,
                   "flip {}: {}; the decision is unknown (control channel {}: {}). The proxies "
                   "keep holding (503 past their bound); re-run when the channel is back.\n",
                   rec.id, reason, c.control.describe(), d.status().to_string());
        return 1;
      }
      // No commit was ever attempted for this flip (only a lock holder
      // records decisions, and it records commit only after catch-up), so
      // releasing to the old primary is safe even unrecorded. Proxies we
      // cannot reach keep holding until they hear from us.
      fmt::print(stderr, "flip {}: could not record the abort on {}: {}\n", rec.id,
                 c.control.describe(), d.status().to_string());
    } else if (d->commit) {
      fmt::print(stderr, "flip {}: the recorded decision is commit; finishing it\n", rec.id);
      rec.step = "committed";
      (void)save();
      return commit_and_release();
    }
    auto answers = all("abort", "", std::chrono::seconds(5));
    std::string unreached;
    for (size_t i = 0; i < answers.size(); ++i) {
      if (!answers[i].is_ok() || answers[i]->status != 200) {
        unreached += " " + c.plan.proxies.admin[i];
      }
    }
    rec.step = "aborted";
    rec.finished_ms = migrate::now_ms();
    Status s = c.m->finish_flip(rec, std::nullopt);
    if (!s.is_ok()) return fail(s);
    fmt::print(stderr, "flip {} ABORTED: {}; roles unchanged (primary {}, epoch {})\n", rec.id,
               reason, rec.from_primary, rec.from_epoch.get());
    if (!unreached.empty()) {
      fmt::print(stderr,
                 "proxies not reached:{} -- they hold writes (503 past their bound) until they "
                 "read the abort from the control channel\n",
                 unreached);
    }
    return 2;
  }

  int prepare() {
    rec.step = "preparing";
    if (Status s = save(); !s.is_ok()) return fail(s);
    maybe_crash("preparing");
    if (auto lg = open_log(c.log_flags); lg.is_ok()) {
      ev_log = std::move(lg).value();
    } else {
      return abort("cannot open the log: " + lg.status().to_string());
    }
    // Best effort: on failure record_flip_decision opens its own.
    if (auto cl = open_control_writer(c.control); cl.is_ok()) ctl_log = std::move(cl).value();
    // Everything slow is done (store write, log and control handles): the
    // pre-drain's last read is the lag writes are held with.
    if (Status s = predrain(); !s.is_ok()) return abort(s.message());
    hold_t0 = Clock::now();
    const std::string extra =
        fmt::format("&drain={}ms&hold={}ms", c.plan.flip.drain.count(), c.plan.flip.hold.count());
    auto answers = all("prepare", extra, c.plan.flip.drain + std::chrono::seconds(5));
    rec.prepare_us = us_since(hold_t0);
    std::string problems;
    for (size_t i = 0; i < answers.size(); ++i) {
      const auto& p = c.plan.proxies.admin[i];
      if (!answers[i].is_ok()) {
        problems += (problems.empty() ? "" : "; ") + p + ": " + answers[i].status().to_string();
      } else if (answers[i]->status != 200) {
        problems += (problems.empty() ? "" : "; ") + p + ": " + admin_reason(*answers[i]);
      } else {
        const auto& roles = answers[i]->body["roles"];
        const auto prim = roles["primary"].value("name", "");
        const auto ep = roles.value("epoch", -1);
        if (prim != rec.from_primary || ep != static_cast<int>(rec.from_epoch.get())) {
          problems += (problems.empty() ? "" : "; ") + p + ": at primary " + prim + " epoch " +
                      std::to_string(ep) + ", expected " + rec.from_primary + " epoch " +
                      std::to_string(rec.from_epoch.get());
        }
      }
    }
    if (!problems.empty()) return abort("prepare failed: " + problems);
    // Every proxy holds and has flushed its drained writes: the log's end
    // now is the fence.
    auto ends = ev_log->end_offsets();
    if (!ends.is_ok()) return abort("cannot read the log's end: " + ends.status().to_string());
    rec.fence.clear();
    for (auto o : *ends) rec.fence.push_back(o.get());
    rec.fence_us = us_since(hold_t0) - rec.prepare_us;
    rec.step = "prepared";
    if (Status s = save(); !s.is_ok()) return abort("cannot persist the fence: " + s.to_string());
    maybe_crash("prepared");
    return catch_up();
  }

  const std::string& fence_group() const {
    return rec.kind == "rollback" ? c.plan.log.reverse_group : c.plan.log.group;
  }

  // Pre-drain (docs/cutover.md, "The pause"), before any write is held:
  // waits, bounded by flip.predrain, until the loader that must reach the
  // fence has at most flip.predrain_lag events committed-unapplied. The
  // fenced window then only waits for that short tail instead of whatever
  // backlog the loader happened to carry when the flip started.
  Status predrain() {
    const auto t0 = Clock::now();
    const auto deadline = t0 + c.plan.flip.predrain;
    const std::string group = fence_group();
    std::string last;
    // The log's own answer once (a round trip per partition, slow enough
    // that the end offsets it reads last have moved on by the time it
    // answers), then the loader's recorded positions against the log's end
    // offsets (one cheap read each).
    if (auto lags = ev_log->group_lag(group); lags.is_ok()) {
      note_committed(*lags);
    } else {
      last = lags.status().to_string();
    }
    while (true) {
      auto ends = ev_log->end_offsets();
      if (ends.is_ok()) {
        bool complete = true;
        int64_t lag = 0;
        for (size_t p = 0; p < ends->size(); ++p) {
          const auto part = static_cast<int32_t>(p);
          auto pos = migrate::loader_position(*c.store, c.plan.name, group, part);
          // Past the log's end a record cannot be this log's (a stale one,
          // e.g. from a topic recreated under the same name): ignored.
          if (pos.is_ok() && *pos && **pos <= (*ends)[p].get()) {
            auto& k = known_committed[part];
            k = std::max(k, **pos);
          }
          auto it = known_committed.find(part);
          if (it == known_committed.end()) {
            complete = false;
            continue;
          }
          lag += std::max<int64_t>((*ends)[p].get() - std::max<int64_t>(it->second, 0), 0);
        }
        if (complete) {
          rec.lag_at_hold = lag;
          if (lag <= c.plan.flip.predrain_lag) break;
          last = std::to_string(lag) + " event(s) behind";
        } else {
          // A partition neither the log nor the loader's record answered
          // for: ask the log again.
          if (auto lags = ev_log->group_lag(group); lags.is_ok()) note_committed(*lags);
        }
      } else {
        last = ends.status().to_string();
      }
      if (Clock::now() > deadline) {
        rec.predrain_us = us_since(t0);
        return error(
            Code::kTimeout,
            fmt::format("pre-drain: the loader (group {}) was not within {} event(s) of "
                        "the log's end within {} ms (last read: {}); no write was held. "
                        "Is it running and keeping up? Re-run, or raise "
                        "flip.predrain_lag / flip.predrain",
                        group, c.plan.flip.predrain_lag, c.plan.flip.predrain.count(), last));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    rec.predrain_us = us_since(t0);
    return Status::ok();
  }

  void note_committed(const std::vector<log::PartitionLag>& lags) {
    for (const auto& l : lags) {
      auto& k = known_committed[l.partition.get()];
      k = std::max(k, l.committed.get());
    }
  }

  // " p3:120<130 ..." for every partition whose known committed offset is
  // below the fence; "" once the loader has reached it.
  std::string behind_fence() const {
    std::string b;
    for (size_t p = 0; p < rec.fence.size(); ++p) {
      auto it = known_committed.find(static_cast<int32_t>(p));
      const int64_t have = it == known_committed.end() ? -1 : it->second;
      if (std::max<int64_t>(have, 0) < rec.fence[p]) {
        b += fmt::format(" p{}:{}<{}", p, have, rec.fence[p]);
      }
    }
    return b;
  }

  // Waits (bounded by flip.catchup) until the loader's committed positions
  // reach the fence. Two sources, whichever proves it first: the positions
  // a `tandem load --migration` records in the state store after each
  // commit (a local read, every few milliseconds), and the log's own
  // committed offsets (one round trip per partition: ~160 ms for 8
  // partitions on a busy machine, so it runs in the background and also
  // covers a loader started without --migration).
  int catch_up() {
    const std::string group = fence_group();
    const auto deadline = Clock::now() + c.plan.flip.catchup;
    const auto t_catchup = Clock::now();
    std::string behind, log_error;
    while (true) {
      for (size_t p = 0; p < rec.fence.size(); ++p) {
        const auto part = static_cast<int32_t>(p);
        auto it = known_committed.find(part);
        if (it != known_committed.end() && it->second >= rec.fence[p]) continue;
        auto pos = migrate::loader_position(*c.store, c.plan.name, group, part);
        // Nothing can be committed past the fence (no event entered the log
        // since): a record beyond it is stale, not proof.
        if (pos.is_ok() && *pos && **pos <= rec.fence[p]) {
          auto& k = known_committed[part];
          k = std::max(k, **pos);
        }
      }
      if (!lag_read.valid()) {
        lag_read =
            std::async(std::launch::async, [this, group] { return ev_log->group_lag(group); });
      } else if (lag_read.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
        auto lags = lag_read.get();
        if (lags.is_ok()) {
          note_committed(*lags);
          log_error.clear();
        } else {
          log_error = " (" + lags.status().to_string() + ")";
        }
      }
      behind = behind_fence();
      if (behind.empty()) break;
      if (Clock::now() > deadline) {
        return abort(fmt::format("the loader (group {}) did not reach the fence within {} ms:{}{}",
                                 group, c.plan.flip.catchup.count(), behind, log_error));
      }
      // Short: every millisecond here is a millisecond every write waits.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    rec.catchup_us = us_since(t_catchup);
    rec.step = "caught-up";
    if (Status s = save(); !s.is_ok()) return abort(s.to_string());
    maybe_crash("caught-up");
    commit_attempted = true;
    const auto t_decide = Clock::now();
    auto d = decide(true, /*check=*/false);
    rec.decide_us = us_since(t_decide);
    if (!d.is_ok()) return abort("cannot record the commit: " + d.status().to_string());
    if (!d->commit) {
      return abort("the recorded decision is abort");
    }
    rec.step = "committed";
    if (Status s = save(); !s.is_ok()) {
      // The decision is on the control channel; a re-run finishes it.
      return fail(s.context("flip " + rec.id + " is COMMITTED on the control channel; re-run"));
    }
    maybe_crash("committed");
    return commit_and_release();
  }

  int commit_and_release() {
    const std::string extra = "&epoch=" + std::to_string(rec.to_epoch.get());
    const auto t_commit = Clock::now();
    // Retry unreachable proxies for a while: a proxy that misses the
    // commit holds (503 past its bound) and reads the decision itself.
    std::vector<migrate::FlipProxyResult> res(c.plan.proxies.admin.size());
    for (size_t i = 0; i < res.size(); ++i) res[i].proxy = c.plan.proxies.admin[i];
    const auto deadline = Clock::now() + std::max<std::chrono::milliseconds>(
                                             c.plan.flip.hold, std::chrono::seconds(5));
    while (true) {
      std::vector<size_t> todo;
      for (size_t i = 0; i < res.size(); ++i) {
        if (res[i].held_us < 0) todo.push_back(i);
      }
      if (todo.empty()) break;
      std::vector<std::future<Result<AdminAnswer>>> fs;
      for (size_t i : todo) {
        fs.push_back(std::async(std::launch::async, [this, i, &extra] {
          return admin_call(c, c.plan.proxies.admin[i], "POST", "/flip/commit?id=" + rec.id + extra,
                            std::chrono::seconds(5));
        }));
      }
      for (size_t k = 0; k < todo.size(); ++k) {
        auto a = fs[k].get();
        auto& r = res[todo[k]];
        if (!a.is_ok()) {
          r.error = a.status().to_string();
        } else if (a->status != 200) {
          r.error = admin_reason(*a);
        } else {
          r.held_us = a->body.value("held_us", int64_t{0});
          r.error.clear();
        }
      }
      if (Clock::now() > deadline) break;
      bool pending = false;
      for (const auto& r : res) pending |= r.held_us < 0;
      if (pending) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    rec.proxies = res;
    rec.commit_us = us_since(t_commit);
    if (hold_t0 != Clock::time_point{}) {
      rec.total_held_us =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - hold_t0).count();
    }
    bool all_ok = true;
    for (const auto& r : res) all_ok &= r.held_us >= 0;
    if (!all_ok) {
      (void)save();
      for (const auto& r : res) {
        if (r.held_us < 0) {
          fmt::print(stderr,
                     "flip {}: proxy {} not reached ({}); it holds writes and will read the commit "
                     "from the control channel -- it never releases to the old primary. Re-run to "
                     "confirm.\n",
                     rec.id, r.proxy, r.error);
        }
      }
      return 3;
    }
    rec.step = "released";
    rec.finished_ms = migrate::now_ms();
    Status s = c.m->finish_flip(
        rec, rec.kind == "rollback" ? migrate::Phase::kRolledBack : migrate::Phase::kCutOver);
    if (!s.is_ok()) return fail(s);
    report();
    return 0;
  }

  void report() {
    fmt::print("flip {} COMMITTED: primary {} -> {}, epoch {} -> {}\n", rec.id, rec.from_primary,
               rec.to_primary, rec.from_epoch.get(), rec.to_epoch.get());
    for (const auto& r : rec.proxies) {
      fmt::print("  proxy {}: writes held {:.1f} ms\n", r.proxy, r.held_us / 1000.0);
    }
    if (rec.total_held_us >= 0) {
      fmt::print("  total (first hold to last release, as seen here): {:.1f} ms\n",
                 rec.total_held_us / 1000.0);
      fmt::print(
          "  steps: prepare {:.1f} ms, fence {:.1f} ms, catch-up {:.1f} ms, decision {:.1f} ms, "
          "commit {:.1f} ms (before the hold: pre-drain {:.1f} ms, to a lag of {} event(s))\n",
          rec.prepare_us / 1000.0, rec.fence_us / 1000.0, rec.catchup_us / 1000.0,
          rec.decide_us / 1000.0, rec.commit_us / 1000.0, rec.predrain_us / 1000.0,
          rec.lag_at_hold);
    }
    if (f.json_out) {
      json j = {{"flip", rec.id},
                {"kind", rec.kind},
                {"to_epoch", rec.to_epoch.get()},
                {"decided_ms", rec.decided_ms},
                {"total_held_us", rec.total_held_us}};
      json px = json::array();
      for (const auto& r : rec.proxies) px.push_back({{"proxy", r.proxy}, {"held_us", r.held_us}});
      j["proxies"] = px;
      fmt::print("{}\n", j.dump());
    }
  }

  // A flip found in the store (the previous coordinator was killed).
  int resume() {
    fmt::print(stderr, "resuming flip {} ({}) found at step {}\n", rec.id, rec.kind, rec.step);
    if (rec.step == "committed") return commit_and_release();
    // Before the decision we do not know which proxies prepared: the
    // decision, if one was recorded, stands; else abort.
    auto d = read_flip_decision(c.control, rec.id);
    if (d.is_ok() && *d && (*d)->commit) {
      rec.step = "committed";
      (void)save();
      return commit_and_release();
    }
    if (!d.is_ok()) {
      fmt::print(stderr, "cannot read the control channel: {}\n", d.status().to_string());
      return 1;
    }
    // Stopped at caught-up: its commit append may still land.
    commit_attempted = rec.step == "caught-up";
    return abort("the coordinator stopped at step " + rec.step + " before a decision");
  }
};

int run_flip(const MigrateFlags& f, bool rollback) {
  auto cr = open_ctx(f);
  if (!cr.is_ok()) return fail(cr.status());
  Ctx& c = *cr;
  const std::string me = holder_id();
  auto lock = c.m->acquire_lock(me, holder_alive);
  if (!lock.is_ok()) return fail(lock.status());
  if (!lock->empty()) fmt::print(stderr, "took over the cutover lock from {} (gone)\n", *lock);
  struct Unlock {
    Ctx& c;
    std::string me;
    ~Unlock() { (void)c.m->release_lock(me); }
  } unlock{c, me};

  auto cur = c.m->current_flip();
  if (!cur.is_ok()) return fail(cur.status());
  if (*cur) {
    Flip flip{c, f, **cur};
    int rc = flip.resume();
    if (rc != 0 || (*cur)->kind != (rollback ? "rollback" : "cutover")) return rc;
  }
  const auto ph = c.m->phase();
  const auto want = rollback ? migrate::Phase::kRolledBack : migrate::Phase::kCutOver;
  if (ph == want) {
    fmt::print("migration {} is already {} (epoch {}, primary {})\n", c.plan.name,
               migrate::phase_name(ph), c.m->state().epoch.get(), c.m->state().primary);
    return 0;
  }
  if (Status s = migrate::check_transition(ph, want); !s.is_ok()) return fail(s);

  Facts facts = gather(c, f.timeout_ms, false);
  auto gates = gates_for(c.plan);
  auto rep = migrate::run_gates(gates, gate_inputs(facts, rollback, c.m->state().epoch));
  for (const auto& r : rep.results) {
    fmt::print(stderr, "gate {:<13} {}  {}\n", r.gate, r.passed ? "pass" : "FAIL", r.detail);
  }
  if (!rep.passed()) {
    if (f.force.empty()) {
      return fail(
          error(Code::kFailedPrecondition, std::string(rollback ? "rollback" : "cutover") +
                                               " refused: " + rep.describe_failures() +
                                               " (override: --force \"<reason>\", recorded)"));
    }
    migrate::ForceRecord fr{migrate::now_ms(), rollback ? "rollback" : "cutover", f.force,
                            rep.failing()};
    if (Status s = c.m->record_force(fr); !s.is_ok()) return fail(s);
    fmt::print(stderr, "--force: overriding {} failing gate(s); recorded with the reason\n",
               rep.failing().size());
  }

  if (!rollback) {
    // Blue follows green after the cutover: its delete tombstones must
    // outlive the reverse loader's reordering window (docs/cutover.md).
    auto blue = connect_cluster("blue", c.plan.blue, f.timeout_ms);
    if (!blue.is_ok()) return fail(blue.status());
    for (const auto& p : c.plan.indices) {
      auto r =
          (*blue)->call("PUT", "/" + p + "/_settings", json{{"index", {{"gc_deletes", "24h"}}}});
      if (!r.is_ok()) return fail(r.status().context("raising index.gc_deletes on blue"));
    }
  }
  migrate::FlipRecord rec;
  rec.kind = rollback ? "rollback" : "cutover";
  rec.from_epoch = c.m->state().epoch;
  rec.to_epoch = Epoch(rec.from_epoch.get() + 1);
  rec.from_primary = c.m->state().primary;
  rec.to_primary = rec.from_primary == "blue" ? "green" : "blue";
  rec.id =
      fmt::format("{}-{}-e{}-{}", c.plan.name, rec.kind, rec.to_epoch.get(), migrate::now_ms());
  rec.started_ms = migrate::now_ms();
  Flip flip{c, f, rec};
  return flip.prepare();
}

// ---- status ----------------------------------------------------------------

std::string age_text(int64_t ms) {
  if (ms < 0) return "?";
  if (ms < 120'000) return std::to_string(ms / 1000) + " s";
  if (ms < 7'200'000) return std::to_string(ms / 60'000) + " min";
  return std::to_string(ms / 3'600'000) + " h";
}

int run_status(const MigrateFlags& f) {
  auto cr = open_ctx(f);
  if (!cr.is_ok()) return fail(cr.status());
  Ctx& c = *cr;
  Facts facts = gather(c, f.timeout_ms, true);
  const auto& st = c.m->state();
  const bool after_cut = st.primary == "green";
  auto gates = gates_for(c.plan);
  auto rep = migrate::run_gates(gates, gate_inputs(facts, after_cut, st.epoch));
  auto cur = c.m->current_flip();
  json j;
  j["name"] = c.plan.name;
  j["phase"] = std::string(migrate::phase_name(st.phase));
  j["epoch"] = st.epoch.get();
  j["primary"] = st.primary;
  j["direction"] = after_cut ? "green -> blue (reverse)" : "blue -> green";
  j["lag"] = {{"forward", facts.forward_lag ? json(*facts.forward_lag) : json(nullptr)},
              {"reverse", facts.reverse_lag ? json(*facts.reverse_lag) : json(nullptr)},
              {"error", facts.lag_error}};
  auto bp = c.m->get("backfill_progress");
  auto bf = c.m->get("backfill");
  j["backfill"] = {{"progress", bp.is_ok() && *bp ? json(**bp) : json(nullptr)},
                   {"done", bf.is_ok() && *bf ? json::parse(**bf, nullptr, false) : json(nullptr)}};
  if (facts.last_verify) {
    j["last_verify"] = {{"parity", facts.last_verify->parity},
                        {"differences", facts.last_verify->differences},
                        {"explained", facts.last_verify->explained},
                        {"age_ms", migrate::now_ms() - facts.last_verify->at_ms}};
  } else {
    j["last_verify"] = nullptr;
  }
  json g = json::array();
  for (const auto& r : rep.results) {
    g.push_back({{"gate", r.gate}, {"passed", r.passed}, {"detail", r.detail}});
  }
  j["gates"] = g;
  j["alias_guard"] = facts.alias_guard ? json(*facts.alias_guard) : json(nullptr);
  j["dead_letters"] = facts.dead_letters ? json(*facts.dead_letters) : json(nullptr);
  j["proxies"] = facts.proxies;
  j["flip_in_progress"] =
      cur.is_ok() && *cur ? json((*cur)->id + " at " + (*cur)->step) : json(nullptr);
  json flips = json::array();
  for (const auto& fl : st.flips) {
    json px = json::array();
    for (const auto& p : fl.proxies) px.push_back({{"proxy", p.proxy}, {"held_us", p.held_us}});
    flips.push_back({{"id", fl.id},
                     {"kind", fl.kind},
                     {"step", fl.step},
                     {"to_epoch", fl.to_epoch.get()},
                     {"to_primary", fl.to_primary},
                     {"started_ms", fl.started_ms},
                     {"decided_ms", fl.decided_ms},
                     {"total_held_us", fl.total_held_us},
                     {"steps_us",
                      {{"prepare", fl.prepare_us},
                       {"fence", fl.fence_us},
                       {"catchup", fl.catchup_us},
                       {"decide", fl.decide_us},
                       {"commit", fl.commit_us},
                       {"predrain", fl.predrain_us}}},
                     {"lag_at_hold", fl.lag_at_hold},
                     {"abort_reason", fl.abort_reason},
                     {"proxies", px}});
  }
  j["flips"] = flips;
  json forced = json::array();
  for (const auto& fo : st.forced) {
    forced.push_back({{"action", fo.action}, {"reason", fo.reason}, {"gates", fo.failing_gates}});
  }
  j["forced"] = forced;
  if (f.json_out) {
    fmt::print("{}\n", j.dump());
    return 0;
  }
  fmt::print("migration {}: phase {}, epoch {}, primary {}, replicating {}\n", c.plan.name,
             j["phase"].get<std::string>(), st.epoch.get(), st.primary,
             j["direction"].get<std::string>());
  auto lagtxt = [](const std::optional<int64_t>& l) {
    return l ? std::to_string(*l) : std::string("unknown");
  };
  fmt::print("lag: forward {} event(s), reverse {} event(s){}\n", lagtxt(facts.forward_lag),
             lagtxt(facts.reverse_lag),
             facts.lag_error.empty() ? "" : " (" + facts.lag_error + ")");
  // Reported at once, before anything else can scroll it away.
  if (facts.alias_guard && !facts.alias_guard->empty()) {
    fmt::print("ALIAS GUARD: {}\n", *facts.alias_guard);
  }
  if (facts.dead_letters && *facts.dead_letters > 0) {
    fmt::print("DEAD LETTERS: {} unresolved (`tandem dlq list --state {}`)\n", *facts.dead_letters,
               c.plan.state);
  }
  if (bf.is_ok() && *bf) {
    const auto b = json::parse(**bf, nullptr, false);
    const double s = b.value("ms", int64_t{1}) / 1000.0;
    fmt::print("backfill: done, {} documents in {:.1f} s ({:.0f} docs/s)\n",
               b.value("docs", uint64_t{0}), s, b.value("docs", uint64_t{0}) / std::max(s, 0.001));
  } else if (bp.is_ok() && *bp) {
    fmt::print("backfill: {}\n", **bp);
  } else {
    fmt::print("backfill: not started\n");
  }
  if (facts.last_verify) {
    fmt::print("last verify: {} ({} difference(s), {} explained), {} ago\n",
               facts.last_verify->parity ? "parity" : "NOT at parity",
               facts.last_verify->differences, facts.last_verify->explained,
               age_text(migrate::now_ms() - facts.last_verify->at_ms));
  } else {
    fmt::print("last verify: none\n");
  }
  fmt::print("gates for the next {}:\n", after_cut ? "rollback" : "cutover");
  for (const auto& r : rep.results) {
    fmt::print("  {:<13} {}  {}\n", r.gate, r.passed ? "pass" : "FAIL", r.detail);
  }
  for (const auto& p : facts.proxies) {
    if (p.contains("error")) {
      fmt::print("proxy {}: UNREACHABLE {}\n", p["admin"].get<std::string>(),
                 p["error"].get<std::string>());
    } else {
      const auto& s = p["status"];
      fmt::print("proxy {}: primary {}, epoch {}, flip {} {}{}\n", p["admin"].get<std::string>(),
                 s["roles"]["primary"].value("name", "?"), s["roles"].value("epoch", -1),
                 s["flip"].value("id", ""), s["flip"].value("step", ""),
                 s.value("fail_closed", false) ? ", FAIL-CLOSED" : "");
    }
  }
  if (cur.is_ok() && *cur) fmt::print("flip in progress: {} at {}\n", (*cur)->id, (*cur)->step);
  for (const auto& fl : st.flips) {
    fmt::print("flip {}: {}{}, total held {:.1f} ms\n", fl.id, fl.step,
               fl.abort_reason.empty() ? "" : " (" + fl.abort_reason + ")",
               fl.total_held_us / 1000.0);
  }
  return 0;
}

// ---- abort / finalize ------------------------------------------------------

int run_abort(const MigrateFlags& f) {
  auto cr = open_ctx(f);
  if (!cr.is_ok()) return fail(cr.status());
  Ctx& c = *cr;
  if (c.m->phase() == migrate::Phase::kAborted) {
    fmt::print("migration {} is already aborted\n", c.plan.name);
    return 0;
  }
  auto cur = c.m->current_flip();
  if (!cur.is_ok()) return fail(cur.status());
  if (*cur) {
    return fail(
        error(Code::kFailedPrecondition, "flip " + (*cur)->id +
                                             " is in progress; re-run `tandem migrate cutover` "
                                             "(or rollback) to finish or abort it first"));
  }
  Status s = c.m->advance(migrate::Phase::kAborted, "aborted by the operator");
  if (!s.is_ok()) return fail(s);
  fmt::print("migration {} aborted; blue stays the primary, green is left as it is\n", c.plan.name);
  return 0;
}

// Waits (bounded) until the loader `group` has applied everything in the
// log; the lag on the last read, or an error past the deadline.
Status wait_lag_zero(Ctx& c, const std::string& group, std::chrono::milliseconds bound,
                     int64_t* last) {
  auto lg = open_log(c.log_flags);
  if (!lg.is_ok()) return lg.status();
  const auto deadline = Clock::now() + bound;
  std::string why;
  while (true) {
    auto l = group_lag(**lg, group);
    if (l.is_ok()) {
      *last = *l;
      if (*l == 0) return Status::ok();
      why = std::to_string(*l) + " event(s) behind";
    } else {
      why = l.status().to_string();
    }
    if (Clock::now() > deadline) {
      return error(Code::kTimeout,
                   fmt::format("the loader (group {}) did not reach lag 0 within {} ms: {}", group,
                               bound.count(), why));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void print_summary(Ctx& c) {
  const auto& st = c.m->state();
  fmt::print("migration {} finalized: primary {}, epoch {}\n", c.plan.name, st.primary,
             st.epoch.get());
  fmt::print("phases:\n");
  for (size_t i = 0; i + 1 < st.history.size(); ++i) {
    const int64_t ms = st.history[i + 1].at_ms - st.history[i].at_ms;
    fmt::print("  {:<12} {:>9.1f} s\n", migrate::phase_name(st.history[i].phase), ms / 1000.0);
  }
  if (!st.history.empty()) {
    fmt::print("  total        {:>9.1f} s\n",
               (st.history.back().at_ms - st.history.front().at_ms) / 1000.0);
  }
  auto bf = c.m->get("backfill");
  if (bf.is_ok() && *bf) {
    const auto b = json::parse(**bf, nullptr, false);
    fmt::print("documents copied by the backfill: {} in {:.1f} s\n", b.value("docs", uint64_t{0}),
               b.value("ms", int64_t{0}) / 1000.0);
  }
  for (const auto& [label, group] :
       {std::pair<std::string, std::string>{"forward (blue -> green)", c.plan.log.group},
        {"reverse (green -> blue)", c.plan.log.reverse_group}}) {
    auto ack = migrate::loader_stopped(*c.store, c.plan.name, group);
    if (ack.is_ok() && *ack) {
      const auto j = json::parse(**ack, nullptr, false);
      fmt::print(
          "events applied {}: {} ({} index, {} delete, {} meta; {} skipped as the target's own, "
          "{} dead-lettered)\n",
          label, j.value("applied", uint64_t{0}), j.value("indexed", uint64_t{0}),
          j.value("deleted", uint64_t{0}), j.value("meta", uint64_t{0}),
          j.value("skipped", uint64_t{0}), j.value("dead_lettered", uint64_t{0}));
    } else {
      fmt::print("events applied {}: unknown (the loader did not acknowledge the stop)\n", label);
    }
  }
  fmt::print("write pauses:\n");
  for (const auto& fl : st.flips) {
    std::string px;
    for (const auto& r : fl.proxies) {
      px += fmt::format("{}{:.1f}", px.empty() ? "" : ", ", r.held_us / 1000.0);
    }
    if (fl.step == "released") {
      fmt::print("  {:<8} epoch {} -> {}: held {:.1f} ms in total (per proxy: {} ms)\n", fl.kind,
                 fl.from_epoch.get(), fl.to_epoch.get(), fl.total_held_us / 1000.0, px);
    } else {
      fmt::print("  {:<8} epoch {} -> {}: {} ({})\n", fl.kind, fl.from_epoch.get(),
                 fl.to_epoch.get(), fl.step, fl.abort_reason);
    }
  }
  auto par = c.m->get("final_parity");
  if (par.is_ok() && *par) {
    fmt::print("last parity check, each direction:\n");
    std::stringstream ss(**par);
    for (std::string l; std::getline(ss, l);) fmt::print("  {}\n", l);
  }
}

// finalize (docs/cutover.md): a last parity check in each direction, then
// replication stops (the loaders read the mark and acknowledge), green's
// migration settings are restored (and blue's raised gc_deletes), the end
// is recorded, and the summary printed. Re-runs print the summary.
int run_finalize(const MigrateFlags& f) {
  auto cr = open_ctx(f);
  if (!cr.is_ok()) return fail(cr.status());
  Ctx& c = *cr;
  if (c.m->phase() == migrate::Phase::kFinalized) {
    print_summary(c);
    return 0;
  }
  if (Status s = migrate::check_transition(c.m->phase(), migrate::Phase::kFinalized); !s.is_ok()) {
    return fail(s);
  }
  auto cur = c.m->current_flip();
  if (!cur.is_ok()) return fail(cur.status());
  if (*cur) {
    return fail(error(Code::kFailedPrecondition,
                      "flip " + (*cur)->id + " is in progress; re-run its command to finish it"));
  }
  auto k = connect_both(c, f.timeout_ms);
  if (!k.is_ok()) return fail(k.status());
  const std::string prim = c.m->state().primary;
  const std::string foll = prim == "green" ? "blue" : "green";
  // 1. The follower has everything the primary acknowledged.
  const std::string group = prim == "green" ? c.plan.log.reverse_group : c.plan.log.group;
  int64_t lag = -1;
  if (Status s = wait_lag_zero(c, group, c.plan.flip.catchup, &lag); !s.is_ok()) {
    if (f.force.empty()) {
      return fail(s.context("finalize: replication " + prim + " -> " + foll +
                            " keeps running; re-run when it catches up"));
    }
    fmt::print(stderr, "--force: {}\n", s.to_string());
  }
  // 2. The last parity check, in each direction.
  std::string lines;
  bool all_ok = true;
  for (bool forward : {true, false}) {
    const std::string a = forward ? prim : foll, b = forward ? foll : prim;
    auto p = parity(c, forward ? k->primary(prim) : k->follower(prim), a,
                    forward ? k->follower(prim) : k->primary(prim), b);
    if (!p.is_ok()) return fail(p.status().context("finalize: parity " + a + " -> " + b));
    fmt::print("{}\n", p->line());
    lines += p->line() + "\n";
    all_ok &= p->ok();
  }
  if (!all_ok) {
    if (f.force.empty()) {
      return fail(error(Code::kFailedPrecondition,
                        "finalize refused: the clusters are not at parity; replication keeps "
                        "running (override: --force \"<reason>\", recorded)"));
    }
    migrate::ForceRecord fr{migrate::now_ms(), "finalize", f.force, {"parity"}};
    if (Status s = c.m->record_force(fr); !s.is_ok()) return fail(s);
  }
  if (Status s = c.m->put("final_parity", lines); !s.is_ok()) return fail(s);
  // 3. Replication stops: the loaders see the mark and acknowledge.
  if (Status s = migrate::stop_replication(*c.store, c.plan.name); !s.is_ok()) return fail(s);
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  std::vector<std::string> waiting = {c.plan.log.group, c.plan.log.reverse_group};
  while (!waiting.empty() && Clock::now() < deadline) {
    std::vector<std::string> still;
    for (const auto& g : waiting) {
      auto ack = migrate::loader_stopped(*c.store, c.plan.name, g);
      if (!ack.is_ok() || !*ack) still.push_back(g);
    }
    waiting = std::move(still);
    if (!waiting.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (const auto& g : waiting) {
    fmt::print(stderr,
               "loader group {} did not acknowledge the stop within 15 s: it is not running, or "
               "not with --migration {}; stop it yourself\n",
               g, c.plan.name);
  }
  // 4. Green's migration settings (replicas, refresh, gc_deletes) back to
  // their recorded or default values; blue no longer follows, so its raised
  // gc_deletes goes back to the default.
  struct Kv final : meta::KeyValue {
    migrate::Migration& m;
    explicit Kv(migrate::Migration& mm) : m(mm) {}
    Status put(std::string_view key, std::string_view v) override { return m.put(key, v); }
    Result<std::optional<std::string>> get(std::string_view key) override { return m.get(key); }
  } kv(*c.m);
  for (const auto& p : c.plan.indices) {
    Status s = meta::finalize(*k->blue, *k->green, p, kv);
    if (!s.is_ok()) return fail(s.context("finalize " + p));
    auto r =
        k->blue->call("PUT", "/" + p + "/_settings", json{{"index", {{"gc_deletes", nullptr}}}});
    if (!r.is_ok()) return fail(r.status().context("restoring index.gc_deletes on blue"));
  }
  // 5. The end.
  if (Status s = c.m->advance(migrate::Phase::kFinalized, "finalized"); !s.is_ok()) return fail(s);
  print_summary(c);
  return 0;
}

}  // namespace

void register_migrate(CLI::App& app) {
  auto f = std::make_shared<MigrateFlags>();
  auto* cmd = app.add_subcommand(
      "migrate",
      "The whole move from one plan: plan, start, verify, status, cutover, rollback, "
      "finalize, abort (docs/cutover.md)");
  cmd->require_subcommand(1);
  auto add = [&](const char* name, const char* help, std::function<int(const MigrateFlags&)> run) {
    auto* sc = cmd->add_subcommand(name, help);
    sc->add_option("plan", f->plan, "Migration plan (YAML)")->required();
    sc->add_flag("--json", f->json_out, "Machine-readable output");
    sc->add_option("--timeout-ms", f->timeout_ms, "Cluster request timeout")->capture_default_str();
    if (std::string(name) == "cutover" || std::string(name) == "rollback" ||
        std::string(name) == "finalize") {
      sc->add_option("--force", f->force,
                     "Override failing gates; the reason is recorded in the state store");
    }
    sc->callback([f, run] {
      int rc = run(*f);
      if (rc != 0) throw CLI::RuntimeError(rc);
    });
  };
  add("plan", "Validate the plan: clusters, versions, proxies, log", run_plan);
  add("start", "Check the proxies capture, apply metadata, record end marks, backfill", run_start);
  add("verify",
      "Verify the primary -> follower parity at this epoch (quick + deep) and record it (needed "
      "by the cutover and rollback gates)",
      run_verify);
  add("status", "Phase, lag, backfill, last verify, gates, proxies, epoch and direction",
      run_status);
  add("cutover", "Fenced flip of every proxy to green (gates first)",
      [](const MigrateFlags& fl) { return run_flip(fl, false); });
  add("rollback", "Fenced flip of every proxy back to blue",
      [](const MigrateFlags& fl) { return run_flip(fl, true); });
  add("finalize",
      "Last parity check each way, stop replication, restore green's settings, record the end, "
      "print the summary",
      run_finalize);
  add("abort", "Abandon the migration before cutover (blue stays primary)", run_abort);
}

}  // namespace tandem::cli
