// Append throughput and append-to-ack latency of the Kafka change log.
//
//   kafka_log_bench [--brokers H:P] [--records-1k N] [--records-10k N]
//                   [--partitions P] [--buffer-kb KB] [--rate N]
//
// Each size runs against a fresh topic, records are appended one per
// append() call as fast as the producer takes them (like the Java
// ProducerPerformance tool with --throughput -1), and latency runs from the
// append() call to the record's callback. --rate N paces the appends at N
// records/s instead (record i is appended at start + i/N; latency still
// from the append() call), like ProducerPerformance --throughput N: the
// append-to-ack latency of a producer that is not saturated. Producer settings: acks=all,
// enable.idempotence=true, linger.ms=5, librdkafka's default batch.size, and
// queue.buffering.max.kbytes = --buffer-kb (default 32768, the same 32 MiB
// as Java's buffer.memory) so a full buffer blocks the appender in both.
// It prints the matching ProducerPerformance command for a side-by-side run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "log/log.h"

namespace {

using Clock = std::chrono::steady_clock;
using tandem::Offset;
using tandem::Partition;
using tandem::Status;

struct Args {
  std::string brokers = [] {
    const char* b = std::getenv("TANDEM_KAFKA_BROKERS");
    return std::string(b && *b ? b : "127.0.0.1:19092");
  }();
  long records_1k = 200000;
  long records_10k = 20000;
  int partitions = 8;
  long buffer_kb = 32768;
  long rate = 0;  // records/s; 0 = unthrottled
};

int run(const Args& a, size_t size, long records) {
  tandem::log::KafkaLogOptions o;
  o.brokers = a.brokers;
  o.topic = "tandem-bench-" + std::to_string(size) + "-" + std::to_string(::time(nullptr));
  o.partitions = a.partitions;
  o.replication = 1;
  o.properties["queue.buffering.max.kbytes"] = std::to_string(a.buffer_kb);
  auto opened = tandem::log::open_kafka_log(o);
  if (!opened.is_ok()) {
    std::fprintf(stderr, "%s\n", opened.status().to_string().c_str());
    return 1;
  }
  auto log = std::move(opened).value();

  std::vector<Clock::time_point> sent(static_cast<size_t>(records));
  std::vector<double> latency_ms(static_cast<size_t>(records), -1);
  std::atomic<long> failed{0};
  std::string payload(size, 'x');
  for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);

  const auto start = Clock::now();
  long behind = 0;  // records appended more than 1 ms after their due time
  for (long i = 0; i < records; ++i) {
    const size_t idx = static_cast<size_t>(i);
    if (a.rate > 0) {
      const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(i) / a.rate));
      const auto now = Clock::now();
      if (now < due) {
        std::this_thread::sleep_until(due);
      } else if (now - due > std::chrono::milliseconds(1)) {
        ++behind;
      }
    }
    sent[idx] = Clock::now();
    std::vector<tandem::log::AppendRecord> one;
    one.push_back(
        {"key-" + std::to_string(i % 10007), payload, [&, idx](const Status& s, Partition, Offset) {
           latency_ms[idx] =
               std::chrono::duration<double, std::milli>(Clock::now() - sent[idx]).count();
           if (!s.is_ok() && failed++ == 0) {
             std::fprintf(stderr, "first failure: %s\n", s.to_string().c_str());
           }
         }});
    log->append(std::move(one));
  }
  Status f = log->flush(std::chrono::minutes(5));
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (!f.is_ok()) {
    std::fprintf(stderr, "%s\n", f.to_string().c_str());
    return 1;
  }
  std::vector<double> lat = latency_ms;
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))];
  };
  double sum = 0;
  for (double l : lat) sum += l;
  const std::string rate = a.rate > 0 ? std::to_string(a.rate) : std::string("unthrottled");
  std::printf(
      "tandem kafka_log  size=%zuB records=%ld partitions=%d rate=%s: %.0f records/s, %.2f MB/s, "
      "latency avg %.2f ms, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.1f ms, failed %ld, "
      "appended >1 ms late %ld\n",
      size, records, a.partitions, rate.c_str(), records / secs,
      records * static_cast<double>(size) / secs / 1e6, sum / lat.size(), pct(0.50), pct(0.99),
      pct(0.999), lat.back(), failed.load(), behind);
  std::printf(
      "  peer: java -cp \"$KAFKA_LIBS/*\" org.apache.kafka.tools.TopicCommand --bootstrap-server "
      "%s "
      "--create --topic perf-%zu --partitions %d --replication-factor 1 "
      "--config max.message.bytes=16777216\n"
      "        java -cp \"$KAFKA_LIBS/*\" org.apache.kafka.tools.ProducerPerformance "
      "--topic perf-%zu --num-records %ld --record-size %zu --throughput %ld --producer-props "
      "bootstrap.servers=%s acks=all enable.idempotence=true linger.ms=5 batch.size=1000000 "
      "buffer.memory=%ld\n",
      a.brokers.c_str(), size, a.partitions, size, records, size, a.rate > 0 ? a.rate : -1L,
      a.brokers.c_str(), a.buffer_kb * 1024);
  std::fflush(stdout);
  return failed.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--brokers") {
      a.brokers = v;
    } else if (k == "--records-1k") {
      a.records_1k = std::stol(v);
    } else if (k == "--records-10k") {
      a.records_10k = std::stol(v);
    } else if (k == "--partitions") {
      a.partitions = std::stoi(v);
    } else if (k == "--buffer-kb") {
      a.buffer_kb = std::stol(v);
    } else if (k == "--rate") {
      a.rate = std::stol(v);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  std::printf(
      "settings: brokers=%s acks=all enable.idempotence=true linger.ms=5 "
      "batch.size=(librdkafka default 1000000; Java default 16384) "
      "queue.buffering.max.kbytes=%ld (= buffer.memory %ld) compression=none "
      "partitioner=murmur2_random, one record per append(), rate=%s\n",
      a.brokers.c_str(), a.buffer_kb, a.buffer_kb * 1024,
      a.rate > 0 ? (std::to_string(a.rate) + " records/s").c_str() : "unthrottled");
  int rc = 0;
  if (a.records_1k > 0) rc |= run(a, 1024, a.records_1k);
  if (a.records_10k > 0) rc |= run(a, 10240, a.records_10k);
  return rc;
}
