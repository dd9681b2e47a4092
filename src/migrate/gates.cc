// The gates a cutover or rollback must pass (docs/cutover.md).
#include <algorithm>
#include <cstdio>

#include "migrate/migrate.h"

namespace tandem::migrate {
namespace {

class LagGate final : public Gate {
 public:
  explicit LagGate(int64_t max) : max_(max) {}
  std::string name() const override { return "lag"; }
  GateResult check(const GateInputs& in) const override {
    if (!in.lag) return {name(), false, "could not read the loader's lag"};
    const bool ok = *in.lag <= max_;
    return {name(), ok,
            std::to_string(*in.lag) + " event(s) not applied to " + in.target + " (threshold " +
                std::to_string(max_) + (ok && *in.lag > 0 ? ", the fence drains them)" : ")")};
  }

 private:
  int64_t max_;
};

class VerifyGate final : public Gate {
 public:
  explicit VerifyGate(std::chrono::seconds max_age) : max_age_(max_age) {}
  std::string name() const override { return "verify"; }
  GateResult check(const GateInputs& in) const override {
    if (!in.last_verify) return {name(), false, "no verify recorded; run `tandem migrate verify`"};
    const auto& v = *in.last_verify;
    const int64_t age_s = std::max<int64_t>(0, (in.now_ms - v.at_ms) / 1000);
    const std::string age = "last verify " + std::to_string(age_s) + " s ago";
    if (v.epoch != in.epoch) {
      // Replication changed direction since: that verify proved the other
      // direction (docs/verify.md, "Across epochs").
      return {name(), false,
              "last verify ran at epoch " + std::to_string(v.epoch) + " (" + v.direction +
                  "), before the last flip to epoch " + std::to_string(in.epoch) +
                  "; run `tandem migrate verify`"};
    }
    if (age_s > max_age_.count()) {
      return {name(), false, age + ", older than " + std::to_string(max_age_.count()) + " s"};
    }
    if (!v.parity && v.differences > v.explained) {
      return {name(), false,
              age + " found " + std::to_string(v.differences - v.explained) +
                  " unexplained difference(s)"};
    }
    return {name(), true,
            age + (v.differences > 0 ? ", differences all explained by dead letters"
                                     : ", 100% parity")};
  }

 private:
  std::chrono::seconds max_age_;
};

class NeedsVerifyGate final : public Gate {
 public:
  std::string name() const override { return "needs-verify"; }
  GateResult check(const GateInputs& in) const override {
    if (in.needs_verify.empty()) return {name(), true, "no index marked"};
    std::string list;
    for (const auto& i : in.needs_verify) list += (list.empty() ? "" : ", ") + i;
    return {name(), false, "marked for verification: " + list};
  }
};

class DeadLetterGate final : public Gate {
 public:
  std::string name() const override { return "dead-letters"; }
  GateResult check(const GateInputs& in) const override {
    if (!in.dead_letters) return {name(), false, "could not read the dead-letter store"};
    if (*in.dead_letters == 0) return {name(), true, "none unresolved"};
    return {name(), false, std::to_string(*in.dead_letters) + " unresolved; see `tandem dlq list`"};
  }
};

class HealthGate final : public Gate {
 public:
  explicit HealthGate(std::string min) : min_(std::move(min)) {}
  std::string name() const override { return "health"; }
  GateResult check(const GateInputs& in) const override {
    if (in.target_health.empty())
      return {name(), false, "could not read " + in.target + "'s health"};
    const bool ok =
        in.target_health == "green" || (in.target_health == "yellow" && min_ == "yellow");
    return {name(), ok, in.target + " is " + in.target_health + " (need " + min_ + " or better)"};
  }

 private:
  std::string min_;
};

class AliasGate final : public Gate {
 public:
  std::string name() const override { return "aliases"; }
  GateResult check(const GateInputs& in) const override {
    if (!in.alias_problem) return {name(), false, "aliases were not compared"};
    if (in.alias_problem->empty())
      return {name(), true, "every alias resolves to the same indices"};
    return {name(), false, *in.alias_problem};
  }
};

// After a flip, nothing may appear under a plan index's alias on the new
// primary that replication does not carry (docs/cutover.md, "Alias guard").
class AliasGuardGate final : public Gate {
 public:
  std::string name() const override { return "alias-guard"; }
  GateResult check(const GateInputs& in) const override {
    if (!in.alias_guard_problem) return {name(), false, "the primary's aliases were not read"};
    if (in.alias_guard_problem->empty()) {
      return {name(), true, "no index outside the plan under a plan index's alias"};
    }
    return {name(), false, *in.alias_guard_problem};
  }
};

// Query parity: reads replayed on both sides (a query file, or what the
// proxies captured) answered alike, beyond the primary's own noise.
class QueryMatchGate final : public Gate {
 public:
  QueryMatchGate(double min, std::chrono::seconds max_age) : min_(min), max_age_(max_age) {}
  std::string name() const override { return "query-match"; }
  GateResult check(const GateInputs& in) const override {
    if (!in.last_compare) {
      return {name(), false,
              "no compare recorded; run `tandem compare --captured FILE --state STATE` (or "
              "--queries FILE)"};
    }
    const auto& c = *in.last_compare;
    const int64_t age_s = std::max<int64_t>(0, (in.now_ms - c.at_ms) / 1000);
    const std::string what = "last compare " + std::to_string(age_s) + " s ago, " +
                             fmt_percent(c.match_rate) + " of " + std::to_string(c.queries) +
                             " queries matched";
    if (age_s > max_age_.count()) {
      return {name(), false, what + "; older than " + std::to_string(max_age_.count()) + " s"};
    }
    if (c.queries == 0) return {name(), false, what + "; nothing was compared"};
    if (c.match_rate + 1e-9 < min_) {
      return {name(), false, what + ", below the threshold " + fmt_percent(min_)};
    }
    return {name(), true,
            what + (c.lagging > 0 ? " (" + std::to_string(c.lagging) + " lagging, not counted)"
                                  : std::string())};
  }

 private:
  static std::string fmt_percent(double p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f%%", p);
    return buf;
  }
  double min_;
  std::chrono::seconds max_age_;
};

}  // namespace

std::vector<std::unique_ptr<Gate>> default_gates(const GateThresholds& t) {
  std::vector<std::unique_ptr<Gate>> g;
  g.push_back(std::make_unique<LagGate>(t.max_lag));
  g.push_back(std::make_unique<VerifyGate>(t.verify_max_age));
  g.push_back(std::make_unique<NeedsVerifyGate>());
  g.push_back(std::make_unique<DeadLetterGate>());
  g.push_back(std::make_unique<HealthGate>(t.min_health));
  g.push_back(std::make_unique<AliasGate>());
  g.push_back(std::make_unique<AliasGuardGate>());
  if (t.min_query_match) {
    g.push_back(std::make_unique<QueryMatchGate>(*t.min_query_match, t.verify_max_age));
  }
  return g;
}

bool GateReport::passed() const {
  return std::all_of(results.begin(), results.end(), [](const GateResult& r) { return r.passed; });
}

std::vector<std::string> GateReport::failing() const {
  std::vector<std::string> out;
  for (const auto& r : results) {
    if (!r.passed) out.push_back(r.gate);
  }
  return out;
}

std::string GateReport::describe_failures() const {
  std::string out;
  for (const auto& r : results) {
    if (r.passed) continue;
    if (!out.empty()) out += "; ";
    out += "gate '" + r.gate + "': " + r.detail;
  }
  return out;
}

GateReport run_gates(const std::vector<std::unique_ptr<Gate>>& gates, const GateInputs& in) {
  GateReport rep;
  for (const auto& g : gates) rep.results.push_back(g->check(in));
  return rep;
}

}  // namespace tandem::migrate
