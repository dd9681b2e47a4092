// Bulk response parsing on the proxy's write path: the CPU the proxy spends
// on every acknowledged _bulk between the primary's answer and the events
// (parse the request's action lines, parse the answer, build one event per
// item, cut injected "get" members out of the client's copy), and the same
// answer through es::parse_bulk_response (the loader's and backfill's
// reading of their own bulks).
//
//   bulk_response_bench [ITEMS] [ROUNDS]
//
// ITEMS (default 500) per bulk, 8.x-shaped: 80% index with a ~300-byte
// source, 10% updates whose injected get._source is stripped, 10% deletes.
// Prints the median over 7 rounds of ns per bulk and per item for each
// path, so two binaries can be compared side by side (docs/benchmarks.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "es/es.h"
#include "proxy/bulk.h"
#include "proxy/capture_events.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace tandem;

std::string source(size_t i) {
  std::string s = "{\"sku\":\"SKU-" + std::to_string(i) + "\",\"name\":\"Product number " +
                  std::to_string(i) + "\",\"price\":" + std::to_string(i % 1000) +
                  ".99,\"tags\":[\"a\",\"b\",\"c\"],\"description\":\"";
  while (s.size() < 280) s += "lorem ipsum ";
  s += "\"}";
  return s;
}

struct Bulk {
  std::string request;
  std::string response;
};

Bulk make_bulk(size_t items) {
  Bulk b;
  b.response = "{\"errors\":false,\"took\":12,\"items\":[";
  for (size_t i = 0; i < items; ++i) {
    std::string id = "doc-" + std::to_string(i);
    std::string common = "\"_index\":\"products-2026\",\"_id\":\"" + id + "\",\"_version\":2," +
                         "\"_shards\":{\"total\":2,\"successful\":1,\"failed\":0},\"_seq_no\":" +
                         std::to_string(1000 + i) + ",\"_primary_term\":1";
    if (i > 0) b.response += ',';
    if (i % 10 == 8) {
      b.request += "{\"update\":{\"_index\":\"products-2026\",\"_id\":\"" + id + "\"}}\n";
      b.request += "{\"doc\":{\"price\":1.5}}\n";
      b.response += "{\"update\":{" + common + ",\"result\":\"updated\",\"status\":200," +
                    "\"get\":{\"_seq_no\":" + std::to_string(1000 + i) +
                    ",\"_primary_term\":1,\"found\":true,\"_source\":" + source(i) + "}}}";
    } else if (i % 10 == 9) {
      b.request += "{\"delete\":{\"_index\":\"products-2026\",\"_id\":\"" + id + "\"}}\n";
      b.response += "{\"delete\":{" + common + ",\"result\":\"deleted\",\"status\":200}}";
    } else {
      b.request += "{\"index\":{\"_index\":\"products-2026\",\"_id\":\"" + id + "\"}}\n";
      b.request += source(i) + "\n";
      b.response += "{\"index\":{" + common + ",\"result\":\"updated\",\"status\":200}}";
    }
  }
  b.response += "]}";
  return b;
}

template <typename F>
double median_ns(int rounds, int reps, F&& f) {
  std::vector<double> per;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = Clock::now();
    for (int i = 0; i < reps; ++i) f();
    auto dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    per.push_back(dt / reps);
  }
  std::sort(per.begin(), per.end());
  return per[per.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  size_t items = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 500;
  int reps = argc > 2 ? std::atoi(argv[2]) : 200;
  Bulk b = make_bulk(items);
  std::printf("items per bulk: %zu, request %zu bytes, response %zu bytes, %d bulks per round\n",
              items, b.request.size(), b.response.size(), reps);

  auto parsed = proxy::bulk::parse_request(b.request, {});
  if (!parsed.is_ok()) {
    std::fprintf(stderr, "request: %s\n", parsed.status().to_string().c_str());
    return 1;
  }
  proxy::detail::BulkRequest req;
  req.parsed = std::move(parsed).value();
  req.forwarded = req.parsed->rewritten ? *req.parsed->rewritten : b.request;
  const proxy::detail::EventContext ctx{Epoch(1), 1700000000000};
  size_t events = 0;
  double outcome = median_ns(7, reps, [&] {
    auto oc = proxy::detail::bulk_outcome(req, 200, b.response, ctx);
    events += oc.events.size();
  });
  size_t parsed_items = 0;
  double es_parse = median_ns(7, reps, [&] {
    auto r = es::parse_bulk_response(b.response);
    if (!r.is_ok()) std::abort();
    parsed_items += r->items.size();
  });
  if (events == 0 || parsed_items == 0) return 1;
  std::printf("proxy bulk_outcome (parse answer, events, strip): %9.0f ns/bulk %7.1f ns/item\n",
              outcome, outcome / static_cast<double>(items));
  std::printf("es::parse_bulk_response (the proxy's parser too):  %9.0f ns/bulk %7.1f ns/item\n",
              es_parse, es_parse / static_cast<double>(items));
  return 0;
}
