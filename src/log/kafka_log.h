// Internals of the Kafka change-log backend (kafka_log.cc), exposed for unit
// tests. Callers use open_kafka_log() from log/log.h.
//
// KafkaLogOptions::properties are routed like this:
//   "producer.<p>"      -> librdkafka property <p> of the producer only
//   "consumer.<p>"      -> librdkafka property <p> of consumers only
//   "topic.config.<c>"  -> topic config <c> when open_kafka_log creates the
//                          topic (default max.message.bytes=16777216)
//   "tandem.<k>"        -> tandem's own knobs (below), not librdkafka's
//   anything else       -> passed verbatim to every librdkafka client
//                          (security.protocol, sasl.*, ssl.*, ...)
// tandem knobs:
//   tandem.consumer.assignment = subscribe (default: the group balances
//       partitions among its members) | all (this consumer is assigned every
//       partition: one reader sees everything, deterministically)
//   tandem.append.block.ms = how long append() waits for room when the
//       producer queue is full before failing the record (default 30000)
//   tandem.close.timeout.ms = how long closing the log waits for
//       outstanding records before purging them (default 30000)
// Properties that would break the log's contract are refused: acks other
// than all/-1, enable.idempotence=false, enable.auto.commit=true, group.id
// and bootstrap.servers (use KafkaLogOptions and consumer(group)).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "log/log.h"

namespace tandem::log::detail {

using Properties = std::vector<std::pair<std::string, std::string>>;

struct KafkaPlan {
  Properties producer;  // defaults first, then user overrides
  Properties consumer;  // without group.id
  std::map<std::string, std::string> topic_config;
  bool assign_all = false;
  std::chrono::milliseconds append_block{30000};
  std::chrono::milliseconds close_timeout{30000};
  // Log::max_record_bytes(): from message.max.bytes and the topic's
  // max.message.bytes, less framing.
  uint64_t max_record_bytes = 0;
};

// Validates the options (without touching the network) and plans every
// client's configuration. Errors name the property, never its value.
Result<KafkaPlan> plan(const KafkaLogOptions& opts);

// Replaces the values of secret-looking properties (password, secret, jaas,
// token, keys ...) found in `text` with "<redacted>".
class Redactor {
 public:
  explicit Redactor(const std::map<std::string, std::string>& properties);
  std::string operator()(std::string text) const;

 private:
  std::vector<std::string> secrets_;
};

// Applies every property to a fresh rd_kafka_conf_t to check names and
// values the way librdkafka will (no client is created). For unit tests and
// for open_kafka_log's early validation.
Status validate_with_librdkafka(const KafkaPlan& plan, const Redactor& redact);

}  // namespace tandem::log::detail
