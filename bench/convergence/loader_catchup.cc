// Loader catch-up on a backlog: N events (from a real bulk into blue, so the
// seq_nos are real) are appended to a fresh Kafka topic, then one loader
// applies them to green until lag 0. Prints events/s.
// Built by hand (see run_loader_catchup.sh); not part of the CMake build.
#include <chrono>
#include <cstdio>
#include <string>

#include "es/es.h"
#include "event/event.h"
#include "load/load.h"
#include "log/log.h"
#include "state/state.h"

using namespace tandem;

static std::unique_ptr<es::Client> connect(const char* label, const std::string& url) {
  http::ClientOptions o;
  o.url = *http::Url::parse(url);
  auto c = es::connect(label, o);
  if (!c.is_ok()) {
    std::fprintf(stderr, "%s\n", c.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(c).value();
}

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 50000;
  int workers = argc > 2 ? std::atoi(argv[2]) : 4;
  std::string blue_url = "http://127.0.0.1:19200", green_url = "http://127.0.0.1:19201";
  auto blue = connect("blue", blue_url);
  auto green = connect("green", green_url);
  std::string idx = "bench-load-" + std::to_string(::getpid());
  nlohmann::json body = {{"settings", {{"number_of_shards", 2}, {"number_of_replicas", 0}}}};
  (void)blue->create_index(IndexName(idx), body);
  (void)green->create_index(IndexName(idx), body);
  log::KafkaLogOptions ko;
  ko.brokers = "127.0.0.1:19092";
  ko.topic = idx;
  ko.partitions = 8;
  auto lg = log::open_kafka_log(ko);
  if (!lg.is_ok()) return std::fprintf(stderr, "%s\n", lg.status().to_string().c_str()), 1;
  for (int base = 0; base < n; base += 5000) {
    es::BulkBuilder bb;
    std::vector<std::string> srcs;
    for (int i = base; i < std::min(n, base + 5000); ++i) {
      srcs.push_back(R"({"i":)" + std::to_string(i) +
                     R"(,"title":"document","body":"lorem ipsum lorem ipsum lorem ipsum lorem ipsum"})");
      bb.index(IndexName(idx), DocId("id" + std::to_string(i)), srcs.back());
    }
    auto r = blue->bulk(bb);
    if (!r.is_ok()) return std::fprintf(stderr, "%s\n", r.status().to_string().c_str()), 1;
    std::vector<log::AppendRecord> recs;
    for (size_t k = 0; k < r->items.size(); ++k) {
      event::ChangeEvent e;
      e.index = IndexName(idx);
      e.id = r->items[k].id;
      e.seq_no = r->items[k].seq_no;
      e.primary_term = r->items[k].primary_term;
      e.source = srcs[k];
      recs.push_back({event::partition_key(e), event::encode(e), {}});
    }
    (*lg)->append(std::move(recs));
  }
  if (!(*lg)->flush(std::chrono::seconds(60)).is_ok()) return 1;
  auto store = state::open_store("/tmp/" + idx + ".db");
  auto consumer = (*lg)->consumer(idx + "-g");
  auto sink = load::make_es_sink(*blue, *green);
  load::LoaderOptions o;
  o.until_lag_zero = true;
  o.workers = workers;
  o.progress_interval = std::chrono::seconds(5);
  auto loader = load::make_loader(**consumer, *sink, **store, o);
  auto t0 = std::chrono::steady_clock::now();
  Status s = loader->run();
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("events=%d workers=%d seconds=%.1f rate=%.0f/s status=%s\n", n, workers, sec,
              n / sec, s.to_string().c_str());
  (void)blue->delete_index(IndexName(idx));
  (void)green->delete_index(IndexName(idx));
  std::remove(("/tmp/" + idx + ".db").c_str());
  return s.is_ok() ? 0 : 1;
}
