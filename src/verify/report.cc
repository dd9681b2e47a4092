// Rendering of verification reports: a table for people, JSON for tools
// (cutover gates read the JSON).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "verify/verify.h"

namespace tandem::verify {

std::string_view diff_kind_name(DiffKind k) {
  switch (k) {
    case DiffKind::kMissing:
      return "missing";
    case DiffKind::kExtra:
      return "extra";
    case DiffKind::kStale:
      return "stale";
    case DiffKind::kNewer:
      return "newer";
    case DiffKind::kDeadLettered:
      return "dead-lettered";
  }
  return "?";
}

namespace {
uint64_t compared(const IndexReport& r) {
  return r.matched + r.missing + r.extra + r.stale + r.newer + r.dead_lettered + r.unchecked;
}
}  // namespace

// Exact parity: documents green holds at exactly blue's version, over every
// document seen on either side. Dead-lettered documents are explained (they
// do not fail verification) but are not parity: green does not have them.
double IndexReport::parity_percent() const {
  uint64_t total = compared(*this);
  if (!problem.empty()) total = std::max({total, blue_count, green_count, uint64_t{1}});
  if (total == 0) return 100.0;
  return 100.0 * static_cast<double>(matched) / static_cast<double>(total);
}

uint64_t Report::documents() const {
  uint64_t n = 0;
  for (const auto& r : indices) n += r.blue_count;
  return n;
}

uint64_t Report::unexplained() const {
  uint64_t n = 0;
  for (const auto& r : indices) n += r.unexplained();
  return n;
}

double Report::parity_percent() const {
  uint64_t matched = 0, total = 0;
  for (const auto& r : indices) {
    matched += r.matched;
    uint64_t t = compared(r);
    if (!r.problem.empty()) t = std::max({t, r.blue_count, r.green_count, uint64_t{1}});
    total += t;
  }
  return total == 0 ? 100.0 : 100.0 * static_cast<double>(matched) / static_cast<double>(total);
}

std::string render_table(const Report& r) {
  size_t w = 5;
  for (const auto& i : r.indices) w = std::max(w, i.index.get().size());
  std::string out =
      fmt::format("{:<{}}  {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>13} {:>8}\n", "index", w,
                  "blue", "green", "missing", "extra", "stale", "newer", "dead-lettered", "parity");
  uint64_t explained = 0;
  for (const auto& i : r.indices) {
    // Floor, not round: 99.999% must never print as 100.00%.
    double p = std::floor(i.parity_percent() * 100.0) / 100.0;
    out +=
        fmt::format("{:<{}}  {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>13} {:>7.2f}%{}\n",
                    i.index.get(), w, i.blue_count, i.green_count, i.missing, i.extra, i.stale,
                    i.newer, i.dead_lettered, p, i.problem.empty() ? "" : "  (" + i.problem + ")");
    if (i.unchecked > 0) {
      out += fmt::format("  {} more difference(s) not re-checked (limit reached)\n", i.unchecked);
    }
    if (i.prior_epoch > 0) {
      out += fmt::format(
          "  {} document(s) unchanged since an earlier epoch: matched by id, their content is "
          "proven by verify --deep\n",
          i.prior_epoch);
    }
    for (const auto& d : i.samples) {
      out +=
          fmt::format("  {} id={} expected_version={} green_version={}{}\n", diff_kind_name(d.kind),
                      d.id.get(), d.expected_version, d.green_version,
                      d.underlying ? " (" + std::string(diff_kind_name(*d.underlying)) + ")" : "");
    }
    explained += i.dead_lettered;
  }
  double p = std::floor(r.parity_percent() * 100.0) / 100.0;
  out += fmt::format("parity: {:.2f}% ({} documents, {} indices); {} explained, {} unexplained\n",
                     p, r.documents(), r.indices.size(), explained, r.unexplained());
  return out;
}

nlohmann::json to_json(const Report& r) {
  nlohmann::json idx = nlohmann::json::array();
  for (const auto& i : r.indices) {
    nlohmann::json samples = nlohmann::json::array();
    for (const auto& d : i.samples) {
      nlohmann::json s = {{"id", d.id.get()},
                          {"kind", diff_kind_name(d.kind)},
                          {"expected_version", d.expected_version},
                          {"green_version", d.green_version}};
      if (d.underlying) s["underlying"] = diff_kind_name(*d.underlying);
      samples.push_back(std::move(s));
    }
    idx.push_back({{"index", i.index.get()},
                   {"blue_count", i.blue_count},
                   {"green_count", i.green_count},
                   {"matched", i.matched},
                   {"missing", i.missing},
                   {"extra", i.extra},
                   {"stale", i.stale},
                   {"newer", i.newer},
                   {"dead_lettered", i.dead_lettered},
                   {"resolved_in_flight", i.resolved_in_flight},
                   {"unchecked", i.unchecked},
                   {"prior_epoch", i.prior_epoch},
                   {"problem", i.problem},
                   {"parity_percent", i.parity_percent()},
                   {"unexplained", i.unexplained()},
                   {"samples", std::move(samples)}});
  }
  return {{"ok", r.ok()},
          {"parity_percent", r.parity_percent()},
          {"documents", r.documents()},
          {"unexplained", r.unexplained()},
          {"indices", std::move(idx)}};
}

}  // namespace tandem::verify
