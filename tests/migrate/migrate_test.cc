// The migration's plan, phase machine, flip record, lock and gates --
// without sockets (the state store is a temporary SQLite file).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "migrate/migrate.h"

namespace tandem::migrate {
namespace {

const char* kPlan = R"(
name: catalog
blue: {url: "http://127.0.0.1:9200", env_prefix: TANDEM_BLUE}
green:
  url: https://green:9200
  tls: {ca_file: /etc/ca.pem}
log:
  backend: kafka
  kafka: {brokers: "k1:9092", topic: changes}
indices: [products*, orders]
proxies:
  admin: ["http://127.0.0.1:9290", "http://127.0.0.1:9291"]
  token_file: token
state: state.db
gates: {max_lag: 10, verify_max_age: 5m, min_health: green}
flip: {drain: 2s, hold: 3s, catchup: 1m, predrain: 4s, predrain_lag: 25}
backfill: {slices: 2, batch_size: 500, throttle: 3000}
)";

void expect_refused(const std::string& yaml, const std::string& needle);

TEST(Plan, ParsesEveryField) {
  auto p = parse_plan(kPlan, "plan.yaml");
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->name, "catalog");
  EXPECT_EQ(p->blue.url, "http://127.0.0.1:9200");
  EXPECT_EQ(p->green.env_prefix, "TANDEM_GREEN");
  EXPECT_EQ(p->green.tls.ca_file, "/etc/ca.pem");
  EXPECT_EQ(p->log.backend, LogSpec::Backend::kKafka);
  EXPECT_EQ(p->log.topic, "changes");
  EXPECT_EQ(p->log.group, "tandem-load");
  ASSERT_EQ(p->indices.size(), 2u);
  ASSERT_EQ(p->proxies.admin.size(), 2u);
  EXPECT_EQ(p->gates.max_lag, 10);
  EXPECT_EQ(p->gates.verify_max_age, std::chrono::seconds(300));
  EXPECT_EQ(p->flip.hold, std::chrono::milliseconds(3000));
  EXPECT_EQ(p->flip.catchup, std::chrono::milliseconds(60000));
  EXPECT_EQ(p->flip.predrain, std::chrono::milliseconds(4000));
  EXPECT_EQ(p->flip.predrain_lag, 25);
  EXPECT_EQ(p->backfill.slices, 2);
  EXPECT_EQ(p->backfill.batch_size, 500);
  EXPECT_EQ(p->backfill.throttle, 3000);
}

TEST(Plan, DefaultsForTheOptionalSections) {
  std::string yaml = kPlan;
  yaml = yaml.substr(0, yaml.find("flip:"));
  auto p = parse_plan(yaml, "plan.yaml");
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->flip.predrain, std::chrono::milliseconds(10000));
  EXPECT_EQ(p->flip.predrain_lag, 50);
  EXPECT_EQ(p->backfill.slices, 4);
  EXPECT_EQ(p->backfill.throttle, 0);
}

TEST(Plan, RefusesBadPredrainAndBackfillValues) {
  std::string base = kPlan;
  base = base.substr(0, base.find("flip:"));
  expect_refused(base + "flip: {predrain_lag: -1}\n", "flip.predrain_lag");
  expect_refused(base + "backfill: {slices: 0}\n", "backfill.slices");
  expect_refused(base + "backfill: {batch_size: 20000}\n", "backfill.batch_size");
  expect_refused(base + "backfill: {throttel: 5}\n", "backfill.throttel: unknown key");
}

void expect_refused(const std::string& yaml, const std::string& needle) {
  auto p = parse_plan(yaml, "plan.yaml");
  ASSERT_FALSE(p.is_ok()) << "accepted: " << yaml;
  EXPECT_NE(p.status().message().find(needle), std::string::npos) << p.status().message();
  EXPECT_NE(p.status().message().find("plan.yaml"), std::string::npos);
}

TEST(Plan, RefusesUnknownKeysNamingThem) {
  expect_refused(std::string(kPlan) + "colour: blue\n", "colour: unknown key");
  std::string typo = kPlan;
  typo.replace(typo.find("max_lag"), 7, "max_lagg");
  expect_refused(typo, "gates.max_lagg: unknown key");
  std::string tls = kPlan;
  tls.replace(tls.find("ca_file"), 7, "ca_fil");
  expect_refused(tls, "green.tls.ca_fil: unknown key");
}

TEST(Plan, RefusesBadValues) {
  std::string s = kPlan;
  expect_refused(std::string(kPlan).replace(s.find("5m"), 2, "5x"), "gates.verify_max_age");
  expect_refused(std::string(kPlan).replace(s.find("kafka\n"), 5, "redis"), "log.backend");
  expect_refused(
      std::string(kPlan).replace(s.find("http://127.0.0.1:9200"), 21, "http://u:pw@127.0.0.1:9200"),
      "credentials in the URL are refused");
  expect_refused(std::string(kPlan).replace(s.find("min_health: green"), 17, "min_health: red"),
                 "gates.min_health");
  expect_refused("name: x\n", "blue: required");
  expect_refused("[1, 2]", "expected a mapping");
  expect_refused(": : :", "plan.yaml");
  std::string dup = kPlan;
  dup.replace(dup.find("9291"), 4, "9290");
  expect_refused(dup, "listed twice");
  std::string noproxy = kPlan;
  noproxy.replace(noproxy.find("admin: ["), 8, "admin: [ ] #");
  expect_refused(noproxy, "proxies.admin: required");
}

TEST(Plan, MissingFileIsNamed) {
  auto p = load_plan("/nonexistent/plan.yaml");
  ASSERT_FALSE(p.is_ok());
  EXPECT_NE(p.status().message().find("/nonexistent/plan.yaml"), std::string::npos);
}

const Phase kAll[] = {Phase::kPlanned,    Phase::kCapturing, Phase::kCopying,
                      Phase::kConverging, Phase::kVerified,  Phase::kCutOver,
                      Phase::kRolledBack, Phase::kFinalized, Phase::kAborted};

TEST(Phases, EveryTransitionAndEveryRefusal) {
  const std::set<std::pair<Phase, Phase>> allowed = {
      {Phase::kPlanned, Phase::kCapturing},   {Phase::kPlanned, Phase::kAborted},
      {Phase::kCapturing, Phase::kCopying},   {Phase::kCapturing, Phase::kAborted},
      {Phase::kCopying, Phase::kConverging},  {Phase::kCopying, Phase::kAborted},
      {Phase::kConverging, Phase::kVerified}, {Phase::kConverging, Phase::kAborted},
      {Phase::kVerified, Phase::kCutOver},    {Phase::kVerified, Phase::kConverging},
      {Phase::kVerified, Phase::kAborted},    {Phase::kCutOver, Phase::kRolledBack},
      {Phase::kCutOver, Phase::kFinalized},   {Phase::kRolledBack, Phase::kCutOver},
      {Phase::kRolledBack, Phase::kAborted},
  };
  for (Phase from : kAll) {
    for (Phase to : kAll) {
      Status s = check_transition(from, to);
      const bool want = from == to || allowed.count({from, to}) > 0;
      EXPECT_EQ(s.is_ok(), want) << phase_name(from) << " -> " << phase_name(to);
      if (!s.is_ok()) {
        EXPECT_EQ(s.code(), Code::kFailedPrecondition);
        EXPECT_NE(s.message().find(std::string(phase_name(from))), std::string::npos);
        EXPECT_NE(s.message().find(std::string(phase_name(to))), std::string::npos);
      }
    }
  }
}

TEST(Phases, NamesRoundTrip) {
  for (Phase p : kAll) {
    auto back = parse_phase(phase_name(p));
    ASSERT_TRUE(back.is_ok());
    EXPECT_EQ(*back, p);
  }
  EXPECT_FALSE(parse_phase("cutover").is_ok());
}

class MigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tandem-migrate-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    store_.reset();
    auto s = state::open_store((dir_ / "state.db").string());
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s).value();
  }
  std::unique_ptr<Migration> open() {
    auto m = Migration::open(*store_, "catalog");
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    return m.is_ok() ? std::move(m).value() : nullptr;
  }
  std::filesystem::path dir_;
  std::unique_ptr<state::Store> store_;
};

TEST_F(MigrationTest, PhasePersistsAcrossReopen) {
  auto m = open();
  EXPECT_EQ(m->phase(), Phase::kPlanned);
  for (Phase p : {Phase::kCapturing, Phase::kCopying, Phase::kConverging, Phase::kVerified}) {
    ASSERT_TRUE(m->advance(p, "test").is_ok());
    ASSERT_TRUE(m->advance(p, "again").is_ok());  // idempotent
  }
  reopen();
  m = open();
  EXPECT_EQ(m->phase(), Phase::kVerified);
  EXPECT_EQ(m->state().history.size(), 5u);
  Status s = m->advance(Phase::kFinalized, "too early");
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(m->phase(), Phase::kVerified);  // a refusal changes nothing
}

TEST_F(MigrationTest, FlipCommittedMovesEpochAndPrimary) {
  auto m = open();
  for (Phase p : {Phase::kCapturing, Phase::kCopying, Phase::kConverging, Phase::kVerified}) {
    ASSERT_TRUE(m->advance(p, "").is_ok());
  }
  FlipRecord f;
  f.id = "f1";
  f.kind = "cutover";
  f.step = "prepared";
  f.from_epoch = Epoch(0);
  f.to_epoch = Epoch(1);
  f.from_primary = "blue";
  f.to_primary = "green";
  f.fence = {3, 4};
  f.proxies = {{"http://a", 1200, ""}};
  f.predrain_us = 4500;
  f.lag_at_hold = 17;
  f.catchup_us = 61000;
  ASSERT_TRUE(m->save_flip(f).is_ok());
  reopen();
  m = open();
  auto cur = m->current_flip();
  ASSERT_TRUE(cur.is_ok());
  ASSERT_TRUE(cur->has_value());
  EXPECT_EQ((*cur)->fence, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ((*cur)->proxies[0].held_us, 1200);
  EXPECT_EQ((*cur)->predrain_us, 4500);
  EXPECT_EQ((*cur)->lag_at_hold, 17);
  EXPECT_EQ((*cur)->catchup_us, 61000);
  f.step = "released";
  ASSERT_TRUE(m->finish_flip(f, Phase::kCutOver).is_ok());
  EXPECT_EQ(m->phase(), Phase::kCutOver);
  EXPECT_EQ(m->state().epoch, Epoch(1));
  EXPECT_EQ(m->state().primary, "green");
  cur = m->current_flip();
  ASSERT_TRUE(cur.is_ok());
  EXPECT_FALSE(cur->has_value());

  // An aborted rollback changes neither epoch nor primary nor phase.
  FlipRecord r = f;
  r.id = "f2";
  r.kind = "rollback";
  r.step = "aborted";
  r.from_epoch = Epoch(1);
  r.to_epoch = Epoch(2);
  r.to_primary = "blue";
  ASSERT_TRUE(m->finish_flip(r, std::nullopt).is_ok());
  EXPECT_EQ(m->state().epoch, Epoch(1));
  EXPECT_EQ(m->state().primary, "green");
  EXPECT_EQ(m->phase(), Phase::kCutOver);
  EXPECT_EQ(m->state().flips.size(), 2u);
  // Cut over: abort is refused, rollback allowed.
  EXPECT_FALSE(m->advance(Phase::kAborted, "").is_ok());
}

// The loader's recorded committed positions (what a flip's catch-up reads
// instead of a round trip per partition to the log).
TEST_F(MigrationTest, LoaderPositionsPerGroupAndPartition) {
  auto m = open();
  auto none = loader_position(*store_, "catalog", "fwd", 0);
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(record_loader_positions(*store_, "catalog", "fwd", {{0, 10}, {3, 7}}).is_ok());
  ASSERT_TRUE(record_loader_positions(*store_, "catalog", "fwd", {{0, 12}}).is_ok());
  ASSERT_TRUE(record_loader_positions(*store_, "catalog", "rev", {{0, 99}}).is_ok());
  EXPECT_EQ(loader_position(*store_, "catalog", "fwd", 0)->value(), 12);
  EXPECT_EQ(loader_position(*store_, "catalog", "fwd", 3)->value(), 7);
  EXPECT_FALSE(loader_position(*store_, "catalog", "fwd", 1)->has_value());
  EXPECT_EQ(loader_position(*store_, "catalog", "rev", 0)->value(), 99);
  EXPECT_FALSE(loader_position(*store_, "other", "fwd", 0)->has_value());
}

TEST_F(MigrationTest, ForceNeedsAReasonAndIsRecorded) {
  auto m = open();
  EXPECT_FALSE(m->record_force({1, "cutover", "", {"lag"}}).is_ok());
  ASSERT_TRUE(m->record_force({1, "cutover", "lag is from a dead index", {"lag"}}).is_ok());
  reopen();
  m = open();
  ASSERT_EQ(m->state().forced.size(), 1u);
  EXPECT_EQ(m->state().forced[0].reason, "lag is from a dead index");
  EXPECT_EQ(m->state().forced[0].failing_gates, std::vector<std::string>{"lag"});
}

TEST_F(MigrationTest, LockRefusesALiveHolderAndTakesOverADeadOne) {
  auto m = open();
  auto alive = [](const std::string&) { return true; };
  auto dead = [](const std::string&) { return false; };
  auto a = m->acquire_lock("1@h", alive);
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(*a, "");
  EXPECT_TRUE(m->acquire_lock("1@h", alive).is_ok());  // re-entrant for its holder
  auto b = m->acquire_lock("2@h", alive);
  ASSERT_FALSE(b.is_ok());
  EXPECT_NE(b.status().message().find("1@h"), std::string::npos);
  auto c = m->acquire_lock("2@h", dead);
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(*c, "1@h");                         // took over from a killed run
  ASSERT_TRUE(m->release_lock("1@h").is_ok());  // not the holder: no effect
  EXPECT_FALSE(m->acquire_lock("3@h", alive).is_ok());
  ASSERT_TRUE(m->release_lock("2@h").is_ok());
  EXPECT_TRUE(m->acquire_lock("3@h", alive).is_ok());
}

TEST_F(MigrationTest, VerifySummaryPersists) {
  auto m = open();
  auto none = m->last_verify();
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(m->record_verify({42, true, 0, 0, "green->blue", 3}).is_ok());
  auto v = m->last_verify();
  ASSERT_TRUE(v.is_ok() && v->has_value());
  EXPECT_EQ((*v)->at_ms, 42);
  EXPECT_EQ((*v)->epoch, 3);
  EXPECT_EQ((*v)->direction, "green->blue");
  EXPECT_TRUE((*v)->parity);
}

GateInputs good() {
  GateInputs in;
  in.now_ms = 1'000'000;
  in.target = "green";
  in.lag = 0;
  in.last_verify = Migration::VerifySummary{990'000, true, 0, 0, "blue->green"};
  in.dead_letters = 0;
  in.target_health = "yellow";
  in.alias_problem = "";
  in.alias_guard_problem = "";
  return in;
}

TEST(Gates, AllPass) {
  auto gates = default_gates(GateThresholds{});
  auto rep = run_gates(gates, good());
  EXPECT_TRUE(rep.passed()) << rep.describe_failures();
  EXPECT_EQ(rep.results.size(), 7u);
}

void expect_fails(GateInputs in, const GateThresholds& t, const std::string& gate,
                  const std::string& needle) {
  auto rep = run_gates(default_gates(t), in);
  EXPECT_FALSE(rep.passed());
  EXPECT_EQ(rep.failing(), std::vector<std::string>{gate});
  EXPECT_NE(rep.describe_failures().find(needle), std::string::npos) << rep.describe_failures();
}

TEST(Gates, EachRefusalNamesItsGate) {
  GateThresholds t;
  auto in = good();
  in.lag = 5;
  expect_fails(in, t, "lag", "5 event(s) not applied to green");
  t.max_lag = 10;
  EXPECT_TRUE(run_gates(default_gates(t), in).passed());  // under threshold: the fence drains
  t = GateThresholds{};
  in = good();
  in.lag.reset();
  expect_fails(in, t, "lag", "could not read");
  in = good();
  in.last_verify.reset();
  expect_fails(in, t, "verify", "no verify recorded");
  in = good();
  in.last_verify->at_ms = in.now_ms - 2 * 3600 * 1000;
  expect_fails(in, t, "verify", "older than 3600 s");
  in = good();
  in.last_verify->parity = false;
  in.last_verify->differences = 3;
  in.last_verify->explained = 1;
  expect_fails(in, t, "verify", "2 unexplained");
  in.last_verify->explained = 3;
  EXPECT_TRUE(run_gates(default_gates(t), in).passed());  // all explained
  in = good();
  in.needs_verify = {"orders", "logs"};
  expect_fails(in, t, "needs-verify", "orders, logs");
  in = good();
  in.dead_letters = 2;
  expect_fails(in, t, "dead-letters", "2 unresolved");
  in = good();
  in.target_health = "red";
  expect_fails(in, t, "health", "green is red");
  t.min_health = "green";
  in.target_health = "yellow";
  expect_fails(in, t, "health", "need green");
  t = GateThresholds{};
  in = good();
  in.alias_problem = "alias 'products' -> [products-v2] on blue but [products-v1] on green";
  expect_fails(in, t, "aliases", "products-v2");
  in.alias_problem.reset();
  expect_fails(in, t, "aliases", "not compared");
  in = good();
  in.alias_guard_problem =
      "on green (primary): alias 'products' also resolves to 'products-dup', outside the plan";
  expect_fails(in, t, "alias-guard", "products-dup");
  in.alias_guard_problem.reset();
  expect_fails(in, t, "alias-guard", "not read");
}

// A verify proves the direction replication ran in when it ran: after a
// flip it no longer counts, in either direction (rollback gates too).
TEST(Gates, VerifyFromAnEarlierEpochFails) {
  GateThresholds t;
  auto in = good();
  in.epoch = 1;  // cut over since the verify (epoch 0)
  expect_fails(in, t, "verify", "before the last flip to epoch 1");
  in.last_verify->epoch = 1;
  in.last_verify->direction = "green->blue";
  EXPECT_TRUE(run_gates(default_gates(t), in).passed());
  in.epoch = 2;  // rolled back since
  expect_fails(in, t, "verify", "run `tandem migrate verify`");
}

// A later gate plugs in through the same interface.
class MatchRateGate final : public Gate {
 public:
  std::string name() const override { return "query-match"; }
  GateResult check(const GateInputs&) const override { return {name(), false, "97.5% < 99%"}; }
};

TEST(Gates, PluggableGate) {
  auto gates = default_gates(GateThresholds{});
  gates.push_back(std::make_unique<MatchRateGate>());
  auto rep = run_gates(gates, good());
  EXPECT_EQ(rep.failing(), std::vector<std::string>{"query-match"});
}

}  // namespace
}  // namespace tandem::migrate

// The query-parity gate (issue 10's compare, recorded in the state store):
// off unless the plan sets gates.min_query_match.
namespace tandem::migrate {
namespace {

TEST(Plan, ParsesTheQueryMatchThreshold) {
  std::string yaml = kPlan;
  yaml.replace(yaml.find("min_health: green"), 17, "min_health: green, min_query_match: 99.5");
  auto p = parse_plan(yaml, "plan.yaml");
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  ASSERT_TRUE(p->gates.min_query_match.has_value());
  EXPECT_DOUBLE_EQ(*p->gates.min_query_match, 99.5);
  EXPECT_FALSE(parse_plan(kPlan, "plan.yaml")->gates.min_query_match.has_value());
  for (const char* bad : {"101", "-1", "most", "99%"}) {
    std::string b = kPlan;
    b.replace(b.find("min_health: green"), 17,
              std::string("min_health: green, min_query_match: \"") + bad + "\"");
    expect_refused(b, "gates.min_query_match");
  }
}

TEST(Gates, QueryMatchGate) {
  GateThresholds t;
  t.min_query_match = 99.0;
  auto in = good();
  // Not recorded: refused, saying how to record one.
  auto rep = run_gates(default_gates(t), in);
  EXPECT_EQ(rep.failing(), std::vector<std::string>{"query-match"});
  EXPECT_NE(rep.describe_failures().find("tandem compare"), std::string::npos);
  // Recent and above the threshold: passes, lagging reads named.
  in.last_compare = GateInputs::QueryMatch{995'000, 99.5, 200, 3};
  rep = run_gates(default_gates(t), in);
  EXPECT_TRUE(rep.passed()) << rep.describe_failures();
  EXPECT_EQ(rep.results.size(), 8u);
  // Below the threshold.
  in.last_compare = GateInputs::QueryMatch{995'000, 97.0, 200, 0};
  expect_fails(in, t, "query-match", "below the threshold 99.00%");
  // Too old.
  in.last_compare = GateInputs::QueryMatch{1'000'000 - 7'200'000, 100.0, 200, 0};
  expect_fails(in, t, "query-match", "older than");
  // Nothing compared.
  in.last_compare = GateInputs::QueryMatch{995'000, 100.0, 0, 0};
  expect_fails(in, t, "query-match", "nothing was compared");
}

}  // namespace
}  // namespace tandem::migrate
