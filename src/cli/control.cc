// The cutover control channel (docs/cutover.md): where the decision of a
// fenced flip is recorded, once, for every proxy and coordinator to read.
// Next to the change log, so it is reachable wherever the log is: a
// one-partition Kafka topic "<topic>-control" with the log's brokers and
// security properties, or a one-partition file log "<dir>-control" next to
// the embedded log's directory.
#include <unistd.h>

#include <chrono>

#include "cli/cli.h"
#include "event/event.h"

namespace tandem::cli {

ControlChannel control_channel_for(const log::KafkaLogOptions* kafka, const std::string& dir) {
  ControlChannel c;
  if (kafka != nullptr) {
    c.kafka = *kafka;
    c.kafka->topic = kafka->topic + "-control";
    c.kafka->partitions = 1;
    // Readers take the one partition by assignment: no group join, so a
    // proxy reading the decision does not wait for a rebalance.
    c.kafka->properties["tandem.consumer.assignment"] = "all";
  } else {
    std::string d = dir;
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    c.dir = d + "-control";
  }
  return c;
}

std::string ControlChannel::describe() const {
  return kafka ? "kafka topic " + kafka->topic + " at " + kafka->brokers : "file log at " + dir;
}

Result<std::unique_ptr<log::Log>> open_control_writer(const ControlChannel& ch) {
  if (ch.kafka) return log::open_kafka_log(*ch.kafka);
  log::FileLogOptions o;
  o.dir = ch.dir;
  o.partitions = 1;
  return log::open_file_log(o);
}

Status record_flip_decision(const ControlChannel& ch, const event::FlipDecision& d,
                            log::Log* writer) {
  std::unique_ptr<log::Log> own;
  if (writer == nullptr) {
    TANDEM_ASSIGN_OR_RETURN(own, open_control_writer(ch));
    writer = own.get();
  }
  log::Log* lg = writer;
  auto result = std::make_shared<Status>(Status::ok());
  std::vector<log::AppendRecord> batch(1);
  batch[0].key = d.flip;
  batch[0].value = event::encode_decision(d);
  batch[0].done = [result](const Status& s, Partition, Offset) { *result = s; };
  lg->append(std::move(batch));
  TANDEM_RETURN_IF_ERROR(
      lg->flush(std::chrono::seconds(15)).context("recording the decision on " + ch.describe()));
  return result->context("recording the decision on " + ch.describe());
}

Result<std::optional<event::FlipDecision>> read_flip_decision(const ControlChannel& ch,
                                                              const std::string& flip) {
  std::unique_ptr<log::Log> lg;
  if (ch.kafka) {
    TANDEM_ASSIGN_OR_RETURN(lg, log::open_kafka_log(*ch.kafka));
  } else {
    TANDEM_ASSIGN_OR_RETURN(lg, log::open_file_log_reader(ch.dir));
  }
  TANDEM_ASSIGN_OR_RETURN(auto ends, lg->end_offsets());
  // A throwaway group that never commits: it reads from the beginning.
  const std::string group =
      "tandem-flip-reader-" + std::to_string(::getpid()) + "-" +
      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  TANDEM_ASSIGN_OR_RETURN(auto consumer, lg->consumer(group));
  std::vector<Offset> next(ends.size(), Offset(0));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto done = [&] {
    for (size_t p = 0; p < ends.size(); ++p) {
      if (next[p].get() < ends[p].get()) return false;
    }
    return true;
  };
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return error(Code::kTimeout, "reading the control channel " + ch.describe() +
                                       " did not reach its end in 20 s");
    }
    TANDEM_ASSIGN_OR_RETURN(auto recs, consumer->poll(1000, std::chrono::milliseconds(500)));
    for (const auto& r : recs) {
      const auto p = static_cast<size_t>(r.partition.get());
      if (p < next.size()) next[p] = Offset(r.offset.get() + 1);
      if (r.key != flip) continue;
      auto d = event::decode_decision(r.value);
      if (!d.is_ok()) return d.status().context("control channel " + ch.describe());
      // The first decision recorded for a flip is the decision.
      if (d.value().flip == flip) return std::optional<event::FlipDecision>(d.value());
    }
  }
  return std::optional<event::FlipDecision>();
}

}  // namespace tandem::cli
