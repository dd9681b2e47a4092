// `tandem cluster info <url>`: what tandem sees of a cluster, the first
// thing to run against a new deployment.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/cli.h"
#include "es/es.h"

namespace tandem::cli {
namespace {

int run_info(const ClusterFlags& flags, const std::string& label) {
  auto opts = flags.client_options();
  if (!opts.is_ok()) return fail(opts.status());
  auto client = es::connect(label.empty() ? opts->url.to_string() : label, *opts);
  if (!client.is_ok()) return fail(client.status());
  es::Client& c = **client;
  const es::ClusterInfo& info = c.info();
  auto health = c.health();
  if (!health.is_ok()) return fail(health.status());
  auto indices = c.indices();
  if (!indices.is_ok()) return fail(indices.status());
  uint64_t docs = 0, bytes = 0;
  for (const auto& i : *indices) {
    docs += i.docs_count;
    bytes += i.store_size_bytes;
  }
  const auto& caps = info.caps;
  fmt::print("cluster   {} ({})\n", info.cluster_name, opts->url.to_string());
  fmt::print("flavor    {}\n", es::flavor_name(info.flavor));
  fmt::print("version   {}\n", info.version.to_string());
  fmt::print("health    {} ({} node{}, {} active shards, {} unassigned)\n", health->status,
             health->number_of_nodes, health->number_of_nodes == 1 ? "" : "s",
             health->active_shards, health->unassigned_shards);
  fmt::print("indices   {} ({} documents, {} bytes)\n", indices->size(), docs, bytes);
  // What backfill and verify will use (PIT only where it has a tiebreaker
  // to resume by: OpenSearch 2.x has PIT but scans with sliced scroll).
  fmt::print("scan      {}\n", !caps.pit_scan ? "sliced scroll"
                               : caps.pit_opensearch_api
                                   ? "point-in-time (OpenSearch API) + search_after"
                                   : "point-in-time + search_after");
  fmt::print(
      "apis      {}{}{}\n", caps.typed_apis ? "typed (6.x)" : "typeless",
      caps.composable_templates ? ", composable templates" : "",
      caps.compat_headers
          ? ", compatibility headers (compatible-with=" + std::to_string(caps.compatible_with) + ")"
          : std::string());
  return 0;
}

}  // namespace

void register_cluster(CLI::App& app) {
  auto* cluster = app.add_subcommand("cluster", "Inspect a cluster");
  cluster->require_subcommand(1);
  auto* info = cluster->add_subcommand(
      "info", "Flavor, version, health, index count and capabilities of a cluster");
  auto flags = std::make_shared<ClusterFlags>();
  auto label = std::make_shared<std::string>();
  flags->add_to(*info, "url");
  info->add_option("--name", *label, "Name for the cluster in messages (e.g. blue)");
  info->callback([flags, label] {
    int rc = run_info(*flags, *label);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tandem::cli
