// The reference for `verify --deep`'s speed: a plain read-only sliced scan
// of one index on both clusters at once, with the same scanner, slices and
// page size deep uses, doing nothing with the documents but count them and
// their _source bytes. See bench/verify/run.sh and docs/benchmarks.md.
//
//   verify_scan_bench BLUE_URL GREEN_URL INDEX [SLICES] [BATCH]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "es/es.h"
#include "http/http.h"

using namespace tandem;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s BLUE_URL GREEN_URL INDEX [SLICES] [BATCH]\n", argv[0]);
    return 2;
  }
  const int slices = argc > 4 ? std::atoi(argv[4]) : 2;
  const int batch = argc > 5 ? std::atoi(argv[5]) : 1000;
  std::unique_ptr<es::Client> clients[2];
  const char* labels[2] = {"blue", "green"};
  for (int i = 0; i < 2; ++i) {
    http::ClientOptions o;
    auto u = http::Url::parse(argv[1 + i]);
    if (!u.is_ok()) {
      std::fprintf(stderr, "%s\n", u.status().to_string().c_str());
      return 2;
    }
    o.url = *u;
    o.request_timeout = std::chrono::milliseconds(120000);
    auto c = es::connect(labels[i], o);
    if (!c.is_ok()) {
      std::fprintf(stderr, "%s\n", c.status().to_string().c_str());
      return 3;
    }
    clients[i] = std::move(c).value();
  }
  IndexName idx(argv[3]);
  std::atomic<uint64_t> docs[2] = {0, 0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> failed{false};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int side = 0; side < 2; ++side) {
    for (int s = 0; s < slices; ++s) {
      threads.emplace_back([&, side, s] {
        es::ScanOptions so;
        so.slices = slices;
        so.slice_id = s;
        so.batch_size = batch;
        auto sc = clients[side]->scan(idx, so);
        if (!sc.is_ok()) {
          std::fprintf(stderr, "%s\n", sc.status().to_string().c_str());
          failed = true;
          return;
        }
        for (;;) {
          auto page = (*sc)->next();
          if (!page.is_ok()) {
            std::fprintf(stderr, "%s\n", page.status().to_string().c_str());
            failed = true;
            return;
          }
          if (page->empty()) break;
          docs[side] += page->size();
          uint64_t b = 0;
          for (const auto& d : *page) b += d.source.size();
          bytes += b;
        }
        (void)(*sc)->close();
      });
    }
  }
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  uint64_t per_side = std::max(docs[0].load(), docs[1].load());
  std::printf(
      "scan index=%s slices=%d batch=%d blue_docs=%llu green_docs=%llu source_mb=%.1f "
      "seconds=%.2f docs_per_s=%.0f\n",
      idx.get().c_str(), slices, batch, static_cast<unsigned long long>(docs[0].load()),
      static_cast<unsigned long long>(docs[1].load()),
      static_cast<double>(bytes.load()) / 1048576.0, secs, static_cast<double>(per_side) / secs);
  return failed ? 1 : 0;
}
