// Live mixed traffic over plain HTTP, the way applications talk to a
// cluster: explicit-id creates, auto-id creates, partial updates, deletes,
// recreates of deleted ids, and searches. Each client thread owns the ids
// n with n % clients == thread for deletes and recreates, so the mix really
// exercises delete-then-recreate on the same document.
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "workload/workload.h"

namespace tandem::workload {

uint64_t TrafficStats::total() const {
  return creates + auto_creates + updates + deletes + recreates + searches;
}

namespace {

void count_result(const Result<http::Response>& r, TrafficStats& stats, bool missing_ok) {
  if (!r.is_ok() || r->status >= 500) {
    ++stats.errors;
  } else if (r->status >= 400 && !(missing_ok && (r->status == 404 || r->status == 409))) {
    ++stats.rejected;
  }
}

}  // namespace

Status run_traffic(const http::ClientOptions& target, const IndexName& index,
                   const TrafficOptions& opts, TrafficStats& stats, const std::atomic<bool>& stop) {
  auto client = http::make_client(target);
  if (!client.is_ok()) return client.status();
  http::Client& http = **client;
  const std::string base = "/" + http::encode_path_segment(index.get());
  // 6.x has no typeless _update endpoint (POST /i/_update/id is taken for a
  // document of type "_update" and refused); it updates at /i/_doc/id/_update.
  // Servers without GET / (8.x+ test builds) are typeless.
  bool typed_update = false;
  {
    http::Request root;
    root.method = "GET";
    root.target = "/";
    auto r = http.send(root);
    if (r.is_ok() && r->status == 200) {
      auto info = es::parse_root(r->body);
      typed_update = info.is_ok() && info->caps.typed_apis;
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + opts.duration;
  const int clients = std::max(1, opts.clients);
  const auto interval = opts.ops_per_sec > 0
                            ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(clients / opts.ops_per_sec))
                            : std::chrono::steady_clock::duration::zero();

  auto worker = [&](int t) {
    std::mt19937_64 rng(opts.seed * 7919 + t);
    std::vector<uint64_t> deleted;  // ids this thread deleted, to recreate
    uint64_t fresh = 0;
    auto next_at = std::chrono::steady_clock::now();
    while (!stop && std::chrono::steady_clock::now() < deadline) {
      next_at += interval;
      std::this_thread::sleep_until(next_at);
      const uint64_t roll = rng() % 100;
      const uint64_t owned = (rng() % (opts.id_space / clients + 1)) * clients + t;
      const uint64_t n = owned < opts.id_space ? owned : t;
      http::Request req;
      if (roll < 35) {  // partial update
        req.method = "POST";
        req.target = typed_update ? base + "/_doc/" + catalog_id(n) + "/_update"
                                  : base + "/_update/" + catalog_id(n);
        req.body = fmt::format(R"({{"doc":{{"stock":{},"price":{}.{:02d}}}}})", rng() % 500,
                               5 + rng() % 2000, rng() % 100);
        count_result(http.send(req), stats, true);
        ++stats.updates;
      } else if (roll < 50) {  // create with a new explicit id
        req.method = "PUT";
        const uint64_t k = opts.id_space + 1000000ull * (t + 1) + fresh++;
        req.target = base + "/_doc/" + catalog_id(k) + "?op_type=create";
        req.body = catalog_doc(k, opts.seed);
        count_result(http.send(req), stats, true);
        ++stats.creates;
      } else if (roll < 60) {  // auto-id create
        req.method = "POST";
        req.target = base + "/_doc";
        req.body = catalog_doc(rng() % 1000000, opts.seed);
        count_result(http.send(req), stats, false);
        ++stats.auto_creates;
      } else if (roll < 75) {  // delete
        req.method = "DELETE";
        req.target = base + "/_doc/" + catalog_id(n);
        count_result(http.send(req), stats, true);
        deleted.push_back(n);
        ++stats.deletes;
      } else if (roll < 85 && !deleted.empty()) {  // recreate a deleted id
        const uint64_t d = deleted.back();
        deleted.pop_back();
        req.method = "PUT";
        req.target = base + "/_doc/" + catalog_id(d);
        req.body = catalog_doc(d, opts.seed + 1);
        count_result(http.send(req), stats, false);
        ++stats.recreates;
      } else {  // search
        req.method = "POST";
        req.target = base + "/_search";
        req.body = R"({"size":10,"query":{"match":{"name":"pro"}}})";
        count_result(http.send(req), stats, false);
        ++stats.searches;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();
  return Status::ok();
}

}  // namespace tandem::workload
