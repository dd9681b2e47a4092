// GET / parsing, version parsing and the capability table.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "es/es.h"
#include "es/internal.h"

namespace tandem::es {

std::string_view flavor_name(Flavor f) {
  switch (f) {
    case Flavor::kElasticsearch:
      return "Elasticsearch";
    case Flavor::kOpenSearch:
      return "OpenSearch";
  }
  return "unknown";
}

std::string Version::to_string() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::optional<Version> Version::parse(std::string_view text) {
  Version v;
  std::string_view core = text;
  if (auto dash = text.find('-'); dash != std::string_view::npos) {
    core = text.substr(0, dash);
    v.qualifier = std::string(text.substr(dash + 1));
    if (v.qualifier.empty()) return std::nullopt;
  }
  int* parts[3] = {&v.major, &v.minor, &v.patch};
  size_t n = 0;
  while (!core.empty()) {
    if (n == 3) return std::nullopt;
    size_t dot = core.find('.');
    std::string_view piece = core.substr(0, dot);
    auto num = detail::parse_int(piece);
    if (!num || *num < 0 || *num > 100000 || piece.front() == '+' || piece.front() == '-') {
      return std::nullopt;
    }
    *parts[n++] = static_cast<int>(*num);
    if (dot == std::string_view::npos) break;
    core = core.substr(dot + 1);
    if (core.empty()) return std::nullopt;  // trailing dot
  }
  if (n < 2) return std::nullopt;  // need at least major.minor
  return v;
}

Capabilities Capabilities::derive(Flavor f, Version v) {
  Capabilities c;
  auto at_least = [&](int ma, int mi) { return v >= Version{ma, mi, 0}; };
  if (f == Flavor::kOpenSearch) {
    // OpenSearch forked from Elasticsearch 7.10.2: typeless, no compatibility
    // headers, its own PIT API (2.4+), _shard_doc only from 3.3.
    c.pit = at_least(2, 4);
    c.pit_opensearch_api = true;
    c.pit_scan = at_least(3, 3);
    c.pit_slicing = at_least(3, 3);
    c.typed_apis = false;
    c.bulk_type_required = false;
    c.bulk_type_rejected = v.major >= 2;
    c.compat_headers = false;
    c.compatible_with = 0;
    c.composable_templates = true;
    c.seq_no_in_hits = true;
    return c;
  }
  c.pit = at_least(7, 10);
  c.pit_scan = at_least(7, 12);
  c.pit_slicing = at_least(7, 15);
  c.typed_apis = v.major <= 6;
  c.bulk_type_required = v.major <= 6;
  c.bulk_type_rejected = v.major >= 8;
  c.compat_headers = v.major >= 8;
  c.compatible_with = v.major >= 8 ? v.major - 1 : 0;
  c.composable_templates = at_least(7, 8);
  c.seq_no_in_hits = at_least(6, 7);
  c.hidden_indices = at_least(7, 7);
  return c;
}

Result<ClusterInfo> parse_root(std::string_view body) {
  auto not_es = [&]() {
    return Status(Code::kProtocol, "answered with something that is not Elasticsearch: " +
                                       sanitize_snippet(body, 80));
  };
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return not_es();
  auto vit = j.find("version");
  if (vit == j.end() || !vit->is_object()) return not_es();
  auto nit = vit->find("number");
  if (nit == vit->end() || !nit->is_string()) return not_es();
  auto ver = Version::parse(nit->get<std::string>());
  if (!ver) {
    return Status(Code::kProtocol, "answered with an unparseable version number '" +
                                       sanitize_snippet(nit->get<std::string>(), 40) + "'");
  }
  ClusterInfo info;
  info.version = *ver;
  auto dit = vit->find("distribution");
  if (dit != vit->end() && dit->is_string() && dit->get<std::string>() == "opensearch") {
    info.flavor = Flavor::kOpenSearch;
  }
  if (auto c = j.find("cluster_name"); c != j.end() && c->is_string()) {
    info.cluster_name = c->get<std::string>();
  }
  if (auto c = j.find("cluster_uuid"); c != j.end() && c->is_string()) {
    info.cluster_uuid = c->get<std::string>();
  }
  // A real root document always names its cluster; a JSON answer with a
  // "version" object but no cluster_name is some other service.
  if (info.cluster_name.empty()) return not_es();
  info.caps = Capabilities::derive(info.flavor, info.version);
  return info;
}

}  // namespace tandem::es
