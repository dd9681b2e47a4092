// Rendering of deep verification reports (a table and difference lines for
// people, JSON for tools) and the "last verification" record that cutover
// gates read from the state store.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "verify/verify.h"

namespace tandem::verify {

std::string_view deep_kind_name(DeepKind k) {
  switch (k) {
    case DeepKind::kMissing:
      return "missing";
    case DeepKind::kExtra:
      return "extra";
    case DeepKind::kContent:
      return "content differs";
    case DeepKind::kRouting:
      return "routing differs";
  }
  return "?";
}

// Share of documents with no unexplained difference, over the larger side.
double DeepIndexReport::parity_percent() const {
  uint64_t total = std::max(primary_count, secondary_count);
  uint64_t bad = missing + extra + content + routing + unchecked + dead_lettered;
  if (!problem.empty()) {
    total = std::max<uint64_t>(total, 1);
    bad = std::max<uint64_t>(bad, 1);
  }
  if (total == 0) return 100.0;
  bad = std::min(bad, total);
  return 100.0 * static_cast<double>(total - bad) / static_cast<double>(total);
}

uint64_t DeepReport::documents() const {
  uint64_t n = 0;
  for (const auto& r : indices) n += std::max(r.primary_count, r.secondary_count);
  return n;
}

uint64_t DeepReport::unexplained() const {
  uint64_t n = 0;
  for (const auto& r : indices) n += r.unexplained();
  return n;
}

double DeepReport::parity_percent() const {
  double total = 0, good = 0;
  for (const auto& r : indices) {
    double t = static_cast<double>(std::max<uint64_t>(std::max(r.primary_count, r.secondary_count),
                                                      r.problem.empty() ? 0 : 1));
    total += t;
    good += t * r.parity_percent() / 100.0;
  }
  return total == 0 ? 100.0 : 100.0 * good / total;
}

namespace {

std::string delta(uint64_t a, uint64_t b) {
  int64_t d = static_cast<int64_t>(b) - static_cast<int64_t>(a);
  if (a == 0) return fmt::format("{:+}", d);
  return fmt::format("{:+} ({:+.1f}%)", d, 100.0 * static_cast<double>(d) / static_cast<double>(a));
}

std::string human_bytes(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{}B", b) : fmt::format("{:.1f}{}", v, units[u]);
}

void render_index_table(std::string& out, const DeepReport& r,
                        const std::vector<DeepIndexReport>& list) {
  size_t w = 5;
  for (const auto& i : list) w = std::max(w, i.index.get().size());
  out += fmt::format("{:<{}}  {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>13} {:>8}\n", "index", w,
                     r.primary, r.secondary, "missing", "extra", "content", "routing",
                     "dead-lettered", "parity");
  for (const auto& i : list) {
    double p = std::floor(i.parity_percent() * 100.0) / 100.0;
    out += fmt::format("{:<{}}  {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>13} {:>7.2f}%{}\n",
                       i.index.get(), w, i.primary_count, i.secondary_count, i.missing, i.extra,
                       i.content, i.routing, i.dead_lettered, p,
                       i.problem.empty() ? "" : "  (" + i.problem + ")");
    if (i.unchecked > 0) {
      out += fmt::format("  {} more difference(s) not re-checked (limit reached)\n", i.unchecked);
    }
    for (const auto& d : i.samples) {
      out += fmt::format("  {}{} id={}", d.dead_lettered ? "dead-lettered " : "",
                         deep_kind_name(d.kind), es::sanitize_snippet(d.id.get(), 200));
      if (d.kind == DeepKind::kRouting) {
        out += fmt::format(" routing {} -> {}", d.primary_routing.value_or("(none)"),
                           d.secondary_routing.value_or("(none)"));
      }
      out += fmt::format(
          " versions {}={} {}={}", r.primary,
          d.primary_version < 0 ? std::string("none") : std::to_string(d.primary_version),
          r.secondary,
          d.secondary_version < 0 ? std::string("none") : std::to_string(d.secondary_version));
      if (!d.repair.empty()) out += " [" + d.repair + "]";
      out += "\n";
      for (const auto& f : d.fields) out += "      " + f + "\n";
    }
    if (i.repaired + i.repair_already_newer + i.repair_failed > 0) {
      out += fmt::format("  repair: {} written, {} already newer on {}, {} failed\n", i.repaired,
                         i.repair_already_newer, r.secondary, i.repair_failed);
    }
  }
}

}  // namespace

std::string render_deep(const DeepReport& r) {
  std::string out;
  if (r.repair && !r.dry_run && !r.before_repair.empty()) {
    out += "before repair:\n";
    render_index_table(out, r, r.before_repair);
    out += "after repair (re-verified):\n";
  } else if (r.dry_run) {
    out += "dry run: nothing written\n";
  }
  render_index_table(out, r, r.indices);
  // Counts and sizes: reported, never failing (a large store delta is
  // normal across major versions).
  size_t w = 5;
  for (const auto& i : r.indices) w = std::max(w, i.index.get().size());
  out += fmt::format("{:<{}}  {:>22} {:>26} {:>26}\n", "sizes", w, "docs (delta)", "store (delta)",
                     "primary store (delta)");
  for (const auto& i : r.indices) {
    const auto& a = i.primary_sizes;
    const auto& b = i.secondary_sizes;
    out += fmt::format("{:<{}}  {:>22} {:>26} {:>26}\n", i.index.get(), w,
                       fmt::format("{}/{} {}", a.docs, b.docs, delta(a.docs, b.docs)),
                       fmt::format("{}/{} {}", human_bytes(a.store_bytes),
                                   human_bytes(b.store_bytes), delta(a.store_bytes, b.store_bytes)),
                       fmt::format("{}/{} {}", human_bytes(a.primary_store_bytes),
                                   human_bytes(b.primary_store_bytes),
                                   delta(a.primary_store_bytes, b.primary_store_bytes)));
  }
  uint64_t explained = 0;
  for (const auto& i : r.indices) explained += i.dead_lettered;
  double p = std::floor(r.parity_percent() * 100.0) / 100.0;
  out += fmt::format(
      "content parity: {:.2f}% ({} documents, {} indices, {} -> {}); {} explained, {} "
      "unexplained\n",
      p, r.documents(), r.indices.size(), r.primary, r.secondary, explained, r.unexplained());
  return out;
}

namespace {

nlohmann::json sizes_json(const SideSizes& s) {
  return {{"docs", s.docs},
          {"store_bytes", s.store_bytes},
          {"primary_store_bytes", s.primary_store_bytes}};
}

nlohmann::json delta_json(uint64_t a, uint64_t b) {
  int64_t d = static_cast<int64_t>(b) - static_cast<int64_t>(a);
  nlohmann::json j = {{"absolute", d}};
  j["percent"] = a == 0 ? nlohmann::json(nullptr)
                        : nlohmann::json(100.0 * static_cast<double>(d) / static_cast<double>(a));
  return j;
}

nlohmann::json indices_json(const std::vector<DeepIndexReport>& list) {
  nlohmann::json idx = nlohmann::json::array();
  for (const auto& i : list) {
    nlohmann::json diffs = nlohmann::json::array();
    for (const auto& d : i.samples) {
      nlohmann::json j = {{"id", es::sanitize_snippet(d.id.get(), 512)},
                          {"kind", deep_kind_name(d.kind)},
                          {"dead_lettered", d.dead_lettered},
                          {"primary_version", d.primary_version},
                          {"secondary_version", d.secondary_version},
                          {"fields", d.fields}};
      j["primary_routing"] = d.primary_routing ? nlohmann::json(*d.primary_routing) : nullptr;
      j["secondary_routing"] = d.secondary_routing ? nlohmann::json(*d.secondary_routing) : nullptr;
      if (!d.repair.empty()) j["repair"] = d.repair;
      diffs.push_back(std::move(j));
    }
    idx.push_back(
        {{"index", i.index.get()},
         {"primary_count", i.primary_count},
         {"secondary_count", i.secondary_count},
         {"buckets", i.buckets},
         {"differing_buckets", i.differing_buckets},
         {"drilldown_scans", i.drilldown_scans},
         {"missing", i.missing},
         {"extra", i.extra},
         {"content", i.content},
         {"routing", i.routing},
         {"dead_lettered", i.dead_lettered},
         {"resolved_in_flight", i.resolved_in_flight},
         {"unchecked", i.unchecked},
         {"problem", i.problem},
         {"parity_percent", i.parity_percent()},
         {"unexplained", i.unexplained()},
         {"repair",
          {{"written", i.repaired},
           {"already_newer", i.repair_already_newer},
           {"failed", i.repair_failed}}},
         {"sizes",
          {{"primary", sizes_json(i.primary_sizes)},
           {"secondary", sizes_json(i.secondary_sizes)},
           {"delta",
            {{"docs", delta_json(i.primary_sizes.docs, i.secondary_sizes.docs)},
             {"store_bytes",
              delta_json(i.primary_sizes.store_bytes, i.secondary_sizes.store_bytes)},
             {"primary_store_bytes", delta_json(i.primary_sizes.primary_store_bytes,
                                                i.secondary_sizes.primary_store_bytes)}}}}},
         {"differences", std::move(diffs)}});
  }
  return idx;
}

}  // namespace

nlohmann::json deep_to_json(const DeepReport& r) {
  nlohmann::json j = {{"kind", "deep"},
                      {"ok", r.ok()},
                      {"primary", r.primary},
                      {"secondary", r.secondary},
                      {"parity_percent", r.parity_percent()},
                      {"documents", r.documents()},
                      {"unexplained", r.unexplained()},
                      {"repair", r.repair},
                      {"dry_run", r.dry_run},
                      {"indices", indices_json(r.indices)}};
  if (!r.before_repair.empty()) j["before_repair"] = indices_json(r.before_repair);
  return j;
}

// ---- last result ----------------------------------------------------------

namespace {
constexpr std::string_view kLastKey = "verify.last";
}

Status record_last(state::Store& store, const LastResult& r) {
  nlohmann::json j = {{"kind", r.kind},
                      {"time_ms", r.time_ms},
                      {"parity_percent", r.parity_percent},
                      {"unexplained", r.unexplained},
                      {"documents", r.documents},
                      {"indices", r.indices},
                      {"direction", r.direction},
                      {"repaired", r.repaired}};
  return store.put(kLastKey, j.dump());
}

Result<std::optional<LastResult>> last_result(state::Store& store) {
  TANDEM_ASSIGN_OR_RETURN(auto v, store.get(kLastKey));
  if (!v) return std::optional<LastResult>{};
  auto j = nlohmann::json::parse(*v, nullptr, false);
  auto bad = [&] {
    return Status(Code::kCorruption,
                  "state store key 'verify.last' is not a verification record: " +
                      es::sanitize_snippet(*v, 80));
  };
  if (!j.is_object()) return bad();
  try {
    LastResult r;
    r.kind = j.at("kind").get<std::string>();
    r.time_ms = j.at("time_ms").get<int64_t>();
    r.parity_percent = j.at("parity_percent").get<double>();
    r.unexplained = j.at("unexplained").get<uint64_t>();
    r.documents = j.value("documents", uint64_t{0});
    r.indices = j.value("indices", size_t{0});
    r.direction = j.value("direction", std::string());
    r.repaired = j.value("repaired", false);
    return std::optional<LastResult>(std::move(r));
  } catch (const nlohmann::json::exception&) {
    return bad();
  }
}

}  // namespace tandem::verify
