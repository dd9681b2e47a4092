// File log benchmark: append throughput and append-to-ack latency (p50,
// p99, max) for 1 KB and 10 KB records at the default fsync cadence, then
// how fast everything appended is read back by the writer's own consumer
// (in process, like the proxy's spill drainer) and by a shared reader (like
// `tandem load --log-dir`, opened next to the writer).
//
//   file_log_bench [DIR] [SECONDS] [IN_FLIGHT] [RATE] [FSYNC_INTERVAL_MS]
//
// DIR defaults to a fresh directory under $TMPDIR (removed afterwards) --
// point it at the disk you care about, fsync cost is the whole story.
// IN_FLIGHT bounds records awaiting their callback, like a proxy holding
// client responses until the log acknowledges. RATE (records/s, default 0 =
// as fast as IN_FLIGHT allows) paces appends at a fixed rate instead:
// record i is appended at start + i/RATE, and latency runs from that
// append() call to the callback (fdatasync'd), the append-to-durable
// latency of a log that is not saturated. FSYNC_INTERVAL_MS (default: the
// log's default) is the group-commit window, to compare cadences in one run.
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "log/log.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Result {
  double records_per_s = 0, mb_per_s = 0, p50_us = 0, p99_us = 0, max_us = 0;
  size_t records = 0;
  double read_own_per_s = 0, read_shared_per_s = 0;  // records/s read back
};

// Reads every record of `log` with a fresh consumer group; records/s, or -1
// when a read fails or falls short.
double read_all(tandem::log::Log& log, size_t expect) {
  auto c = log.consumer("bench-read");
  if (!c.is_ok()) {
    std::fprintf(stderr, "%s\n", c.status().to_string().c_str());
    return -1;
  }
  const auto t0 = Clock::now();
  size_t got = 0;
  for (int empty = 0; got < expect && empty < 3;) {
    auto r = (*c)->poll(4096, std::chrono::milliseconds(100));
    if (!r.is_ok()) {
      std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
      return -1;
    }
    empty = r->empty() ? empty + 1 : 0;
    got += r->size();
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (got != expect) {
    std::fprintf(stderr, "read %zu of %zu records\n", got, expect);
    return -1;
  }
  return static_cast<double>(got) / s;
}

Result run(const std::string& dir, size_t value_bytes, double seconds, size_t in_flight,
           double rate, std::chrono::milliseconds fsync_interval) {
  std::filesystem::remove_all(dir);
  tandem::log::FileLogOptions o;
  o.dir = dir;  // defaults otherwise: 8 partitions, 128 MiB segments
  o.fsync_interval = fsync_interval;
  auto opened = tandem::log::open_file_log(o);
  if (!opened.is_ok()) {
    std::fprintf(stderr, "%s\n", opened.status().to_string().c_str());
    std::exit(1);
  }
  auto log = std::move(opened).value();

  std::mutex mu;
  std::condition_variable cv;
  size_t outstanding = 0;
  std::vector<double> lat_us;
  lat_us.reserve(1 << 20);
  std::atomic<size_t> errors{0};
  const std::string value(value_bytes, 'x');
  const auto start = Clock::now();
  const auto stop = start + std::chrono::duration<double>(seconds);
  size_t sent = 0;
  while (Clock::now() < stop) {
    if (rate > 0) {
      std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(sent / rate)));
    }
    {
      std::unique_lock<std::mutex> lk(mu);
      cv.wait(lk, [&] { return outstanding < in_flight; });
      ++outstanding;
    }
    const auto t0 = Clock::now();
    std::vector<tandem::log::AppendRecord> b;
    b.push_back(tandem::log::AppendRecord{
        "doc-" + std::to_string(sent++), value,
        [&, t0](const tandem::Status& s, tandem::Partition, tandem::Offset) {
          const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
          if (!s.is_ok()) ++errors;
          std::lock_guard<std::mutex> lk(mu);
          lat_us.push_back(us);
          --outstanding;
          cv.notify_one();
        }});
    log->append(std::move(b));
  }
  if (!log->flush(std::chrono::seconds(60)).is_ok()) std::fprintf(stderr, "flush timed out\n");
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const size_t appended = lat_us.size() - errors.load();
  const double read_own = read_all(*log, appended);
  double read_shared = -1;
  if (auto reader = tandem::log::open_file_log_reader(dir); reader.is_ok()) {
    read_shared = read_all(**reader, appended);
  } else {
    std::fprintf(stderr, "%s\n", reader.status().to_string().c_str());
  }
  log.reset();
  std::filesystem::remove_all(dir);
  if (errors) std::fprintf(stderr, "%zu append errors\n", errors.load());

  std::sort(lat_us.begin(), lat_us.end());
  Result r;
  r.records = lat_us.size();
  r.read_own_per_s = read_own;
  r.read_shared_per_s = read_shared;
  r.records_per_s = static_cast<double>(r.records) / elapsed;
  r.mb_per_s = r.records_per_s * static_cast<double>(value_bytes) / 1e6;
  if (!lat_us.empty()) {
    r.p50_us = lat_us[lat_us.size() / 2];
    r.p99_us = lat_us[std::min(lat_us.size() - 1, lat_us.size() * 99 / 100)];
    r.max_us = lat_us.back();
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string base;
  if (argc > 1) {
    base = argv[1];
  } else {
    const char* t = std::getenv("TMPDIR");
    base =
        std::string(t && *t ? t : "/tmp") + "/tandem-file-log-bench-" + std::to_string(::getpid());
  }
  const double seconds = argc > 2 ? std::atof(argv[2]) : 5.0;
  const size_t in_flight = argc > 3 ? static_cast<size_t>(std::atol(argv[3])) : 1024;
  const double rate = argc > 4 ? std::atof(argv[4]) : 0;
  const auto fsync_interval = argc > 5 ? std::chrono::milliseconds(std::atol(argv[5]))
                                       : tandem::log::FileLogOptions{}.fsync_interval;
  std::printf(
      "file log bench: dir %s, %.1f s per case, %zu in flight, rate %s, fsync_interval %ld ms\n",
      base.c_str(), seconds, in_flight,
      rate > 0 ? (std::to_string(static_cast<long>(rate)) + " records/s").c_str() : "unthrottled",
      static_cast<long>(fsync_interval.count()));
  std::printf("%-8s %12s %10s %10s %10s %10s %12s %12s\n", "value", "records/s", "MB/s", "p50 us",
              "p99 us", "max us", "read own/s", "read shr/s");
  for (size_t bytes : {size_t{1024}, size_t{10240}}) {
    Result r =
        run(base + "-" + std::to_string(bytes), bytes, seconds, in_flight, rate, fsync_interval);
    std::printf("%-8zu %12.0f %10.1f %10.0f %10.0f %10.0f %12.0f %12.0f\n", bytes, r.records_per_s,
                r.mb_per_s, r.p50_us, r.p99_us, r.max_us, r.read_own_per_s, r.read_shared_per_s);
  }
  return 0;
}
