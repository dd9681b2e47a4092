// `tandem log stats|tail|dump`: kcat for tandem events, on either backend.
//
// Output of tail/dump is one JSON object per line:
//   {"partition":3,"offset":17,"key":"products\u001fp00000042","event":{...}}
// where "event" is the event envelope exactly as stored (docs/event-format.md),
// so `jq` works on it and nothing is re-serialized.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/cli.h"
#include "event/event.h"

namespace tandem::cli {
namespace {

struct LogArgs {
  LogFlags log;
  std::string group;           // stats: also show this group's lag
  std::string from = "begin";  // dump: begin | end | OFFSET | P:OFFSET[,P:OFFSET]
  int64_t limit = -1;          // dump: stop after this many events (-1 = until the end)
  int64_t last = 10;           // tail: last N per partition
  bool follow = false;         // tail: keep waiting for new events
};

std::string json_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void print_record(const log::Record& r) {
  // An undecodable record is still printed, flagged, so corruption is
  // visible rather than skipped.
  auto ev = event::decode(r.value);
  if (ev.is_ok()) {
    fmt::print("{{\"partition\":{},\"offset\":{},\"key\":\"{}\",\"event\":{}}}\n",
               r.partition.get(), r.offset.get(), json_escape(r.key), r.value);
  } else {
    fmt::print("{{\"partition\":{},\"offset\":{},\"key\":\"{}\",\"undecodable\":\"{}\"}}\n",
               r.partition.get(), r.offset.get(), json_escape(r.key),
               json_escape(ev.status().message()));
  }
}

// Parses --from into a start offset per partition.
Result<std::map<Partition, Offset>> parse_from(const std::string& from,
                                               const std::vector<Offset>& begin,
                                               const std::vector<Offset>& end) {
  std::map<Partition, Offset> pos;
  const int32_t n = static_cast<int32_t>(end.size());
  if (from == "begin" || from == "end") {
    for (int32_t p = 0; p < n; ++p) pos[Partition{p}] = from == "begin" ? begin[p] : end[p];
    return pos;
  }
  if (from.find(':') == std::string::npos) {
    try {
      const int64_t off = std::stoll(from);
      for (int32_t p = 0; p < n; ++p) pos[Partition{p}] = Offset{std::max(off, begin[p].get())};
      return pos;
    } catch (...) {
      return error(Code::kInvalidArgument,
                   "bad --from '" + from + "': use begin, end, OFFSET or P:OFFSET");
    }
  }
  for (int32_t p = 0; p < n; ++p) pos[Partition{p}] = end[p];  // unnamed partitions: nothing
  size_t i = 0;
  while (i < from.size()) {
    size_t comma = from.find(',', i);
    if (comma == std::string::npos) comma = from.size();
    const std::string item = from.substr(i, comma - i);
    const size_t colon = item.find(':');
    try {
      const int32_t p = std::stoi(item.substr(0, colon));
      const int64_t off = std::stoll(item.substr(colon + 1));
      if (p < 0 || p >= n) {
        return error(Code::kInvalidArgument,
                     fmt::format("--from names partition {}, but the log has {}", p, n));
      }
      pos[Partition{p}] = Offset{off};
    } catch (...) {
      return error(Code::kInvalidArgument, "bad --from item '" + item + "': expected P:OFFSET");
    }
    i = comma + 1;
  }
  return pos;
}

// Reads from `pos` until every partition reaches `stop_at` (or forever when
// follow), printing each record; at most `limit` records when limit >= 0.
Status read_range(log::Log& lg, std::map<Partition, Offset> pos, std::vector<Offset> stop_at,
                  int64_t limit, bool follow) {
  TANDEM_ASSIGN_OR_RETURN(auto consumer, lg.consumer("tandem-cli-" + std::to_string(::getpid())));
  for (const auto& [p, o] : pos) TANDEM_RETURN_IF_ERROR(consumer->seek(p, o));
  auto done = [&] {
    if (follow) return false;
    for (const auto& [p, o] : pos) {
      if (o < stop_at[p.get()]) return false;
    }
    return true;
  };
  int64_t printed = 0;
  int idle = 0;
  while (!done() && (limit < 0 || printed < limit)) {
    TANDEM_ASSIGN_OR_RETURN(auto records, consumer->poll(1000, std::chrono::milliseconds(500)));
    if (records.empty()) {
      // Not follow: nothing more arrives past the end offsets we read, so
      // a long silence means retention removed part of the range.
      if (!follow && ++idle > 20) break;
      continue;
    }
    idle = 0;
    for (const auto& r : records) {
      if (!follow && r.offset >= stop_at[r.partition.get()]) continue;
      print_record(r);
      pos[r.partition] = Offset{r.offset.get() + 1};
      if (limit >= 0 && ++printed >= limit) break;
    }
  }
  std::fflush(stdout);
  return Status::ok();
}

// Inspecting must not create: a mistyped --log-dir would otherwise show an
// empty new log instead of an error.
Result<std::unique_ptr<log::Log>> open_existing(const LogFlags& flags) {
  if (!flags.dir.empty() && !std::filesystem::is_directory(flags.dir)) {
    return error(Code::kNotFound, "no file log at " + flags.dir);
  }
  return open_log(flags);
}

// Every inspection starts from the log and its current begin/end offsets.
struct OpenedLog {
  std::unique_ptr<log::Log> log;
  std::vector<Offset> begin;
  std::vector<Offset> end;
};

Result<OpenedLog> open_with_bounds(const LogFlags& flags) {
  OpenedLog o;
  TANDEM_ASSIGN_OR_RETURN(o.log, open_existing(flags));
  TANDEM_ASSIGN_OR_RETURN(o.begin, o.log->begin_offsets());
  TANDEM_ASSIGN_OR_RETURN(o.end, o.log->end_offsets());
  return o;
}

int run_stats(const LogArgs& a) {
  auto opened = open_with_bounds(a.log);
  if (!opened.is_ok()) return fail(opened.status());
  auto& [lg, begin, end] = *opened;
  fmt::print("log         {}\n", lg->describe());
  fmt::print("partitions  {}\n", lg->partitions());
  int64_t total = 0;
  for (size_t p = 0; p < end.size(); ++p) total += end[p].get() - begin[p].get();
  fmt::print("events      {} retained\n", total);
  std::map<Partition, log::PartitionLag> lag;
  if (!a.group.empty()) {
    // Not a consumer of the group: that would take it from a running loader.
    auto l = lg->group_lag(a.group);
    if (!l.is_ok()) return fail(l.status());
    for (const auto& pl : *l) lag[pl.partition] = pl;
  }
  fmt::print("{:>9} {:>14} {:>14}{}\n", "partition", "begin", "end",
             a.group.empty() ? "" : fmt::format(" {:>14} {:>10}", "committed", "lag"));
  int64_t total_lag = 0;
  for (size_t p = 0; p < end.size(); ++p) {
    std::string extra;
    auto it = lag.find(Partition{static_cast<int32_t>(p)});
    if (it != lag.end()) {
      extra = fmt::format(" {:>14} {:>10}", it->second.committed.get(), it->second.lag());
      total_lag += it->second.lag();
    }
    fmt::print("{:>9} {:>14} {:>14}{}\n", p, begin[p].get(), end[p].get(), extra);
  }
  if (!a.group.empty()) fmt::print("group '{}' lag {}\n", a.group, total_lag);
  return 0;
}

int run_dump(const LogArgs& a) {
  auto opened = open_with_bounds(a.log);
  if (!opened.is_ok()) return fail(opened.status());
  auto& [lg, begin, end] = *opened;
  auto pos = parse_from(a.from, begin, end);
  if (!pos.is_ok()) return fail(pos.status());
  Status s = read_range(*lg, *pos, end, a.limit, false);
  return s.is_ok() ? 0 : fail(s);
}

int run_tail(const LogArgs& a) {
  auto opened = open_with_bounds(a.log);
  if (!opened.is_ok()) return fail(opened.status());
  auto& [lg, begin, end] = *opened;
  std::map<Partition, Offset> pos;
  for (size_t p = 0; p < end.size(); ++p) {
    pos[Partition{static_cast<int32_t>(p)}] =
        Offset{std::max(begin[p].get(), end[p].get() - a.last)};
  }
  Status s = read_range(*lg, pos, end, -1, a.follow);
  return s.is_ok() ? 0 : fail(s);
}

}  // namespace

void register_log(CLI::App& app) {
  auto* lg = app.add_subcommand("log", "Inspect the change log (file log or Kafka)");
  lg->require_subcommand(1);
  auto args = std::make_shared<LogArgs>();

  auto* stats = lg->add_subcommand("stats", "Partitions, offsets and a consumer group's lag");
  args->log.add_to(*stats);
  stats->add_option("--group", args->group, "Consumer group to report lag for");
  stats->callback([args] {
    if (int rc = run_stats(*args)) throw CLI::RuntimeError(rc);
  });

  auto* dump = lg->add_subcommand("dump", "Print events from a position as JSON lines");
  args->log.add_to(*dump);
  dump->add_option("--from", args->from, "begin | end | OFFSET | P:OFFSET[,P:OFFSET...]")
      ->capture_default_str();
  dump->add_option("--limit", args->limit, "Stop after N events");
  dump->callback([args] {
    if (int rc = run_dump(*args)) throw CLI::RuntimeError(rc);
  });

  auto* tail = lg->add_subcommand("tail", "Print the last events of every partition");
  args->log.add_to(*tail);
  tail->add_option("-n,--last", args->last, "Events per partition")->capture_default_str();
  tail->add_flag("-f,--follow", args->follow, "Keep printing new events");
  tail->callback([args] {
    if (int rc = run_tail(*args)) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tandem::cli
