// The Kafka change log's configuration: validating and planning every
// client's librdkafka properties (routing, defaults, refusals), the
// redaction of secret values, and which properties are secret. What the
// properties mean: kafka_log.h.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "log/kafka_log.h"
#include "log/kafka_log_client.h"

namespace tandem::log {
namespace detail {
namespace {

constexpr std::string_view kProducerPrefix = "producer.";
constexpr std::string_view kConsumerPrefix = "consumer.";
constexpr std::string_view kTopicConfigPrefix = "topic.config.";
constexpr std::string_view kTandemPrefix = "tandem.";

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The property name a user key maps to for a role, or empty if it does not
// apply to that role.
std::string strip_role(const std::string& key, std::string_view own, std::string_view other) {
  if (starts_with(key, own)) return key.substr(own.size());
  if (starts_with(key, other)) return {};
  return key;
}

Result<std::chrono::milliseconds> parse_ms(const std::string& name, const std::string& value) {
  if (value.empty() || value.size() > 12 ||
      !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return error(Code::kInvalidArgument,
                 "kafka property '" + name + "': expected a number of milliseconds");
  }
  return std::chrono::milliseconds(std::stoll(value));
}

Status refuse(const std::string& name, std::string_view why) {
  return error(Code::kInvalidArgument,
               "kafka property '" + name + "' refused: " + std::string(why));
}

bool valid_topic_name(const std::string& t) {
  if (t.empty() || t.size() > 249 || t == "." || t == "..") return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

}  // namespace

Redactor::Redactor(const std::map<std::string, std::string>& properties) {
  for (const auto& [k, v] : properties) {
    if (!v.empty() && is_secret_kafka_property(k)) secrets_.push_back(v);
  }
  // Longest first, so a secret containing another is replaced whole.
  std::sort(secrets_.begin(), secrets_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string Redactor::operator()(std::string text) const {
  for (const std::string& s : secrets_) {
    for (size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos)) {
      text.replace(pos, s.size(), "<redacted>");
      pos += 10;
    }
  }
  return text;
}

Result<KafkaPlan> plan(const KafkaLogOptions& opts) {
  if (opts.brokers.empty()) {
    return error(Code::kInvalidArgument, "kafka log: no brokers given (bootstrap.servers)");
  }
  if (!valid_topic_name(opts.topic)) {
    return error(Code::kInvalidArgument, "kafka log at " + opts.brokers + ": invalid topic name '" +
                                             opts.topic + "' (1-249 characters of [a-zA-Z0-9._-])");
  }
  if (opts.partitions < 1) {
    return error(Code::kInvalidArgument, "kafka topic " + opts.topic + ": partitions must be >= 1");
  }
  if (opts.replication < 1) {
    return error(Code::kInvalidArgument,
                 "kafka topic " + opts.topic + ": replication must be >= 1");
  }
  if (opts.admin_timeout.count() <= 0) {
    return error(Code::kInvalidArgument, "kafka log: admin_timeout must be positive");
  }

  KafkaPlan p;
  p.topic_config["max.message.bytes"] = "16777216";
  p.producer = {
      {"bootstrap.servers", opts.brokers},
      {"client.id", "tandem-log"},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "5"},
      {"partitioner", "murmur2_random"},
      {"message.timeout.ms", "120000"},
      {"message.max.bytes", "16777216"},
      {"queue.buffering.max.messages", "1000000"},
      {"allow.auto.create.topics", "false"},
      {"reconnect.backoff.max.ms", "2000"},
      {"log.connection.close", "false"},
  };
  p.consumer = {
      {"bootstrap.servers", opts.brokers},
      {"client.id", "tandem-log"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
      {"allow.auto.create.topics", "false"},
      {"message.max.bytes", "16777216"},
      {"reconnect.backoff.max.ms", "2000"},
      {"log.connection.close", "false"},
      // Catch-up throughput and memory (bench/convergence/run.sh, 100k 1 KB
      // events, librdkafka 2.0): with the defaults (500 ms, 64 MB) the
      // prefetch queue runs full, fetching stalls in bursts and the loader
      // idles with lag left (6.6k events/s, RSS 235 MB); with these, 8.9k/s
      // and 148 MB. The loader keeps its own in-flight window
      // (--max-inflight-mb), so a large prefetch queue only doubles memory.
      {"fetch.wait.max.ms", "20"},
      {"queued.max.messages.kbytes", "16384"},
      // A member that died (kill -9) holds its partitions until its session
      // expires: the group's next rebalance waits for it. Kafka's 45 s
      // default meant a restarted loader idled that long; 10 s bounds the
      // hand-over, and group.instance.id (tandem load --instance-id) makes
      // a restart with the same id immediate. Heartbeats run on
      // librdkafka's own thread, so a busy loader is not mistaken for dead.
      {"session.timeout.ms", "10000"},
  };

  for (const auto& [key, value] : opts.properties) {
    if (key.empty()) return error(Code::kInvalidArgument, "kafka property with an empty name");
    if (starts_with(key, kTopicConfigPrefix)) {
      const std::string name = key.substr(kTopicConfigPrefix.size());
      if (name.empty()) return refuse(key, "no topic config name after 'topic.config.'");
      p.topic_config[name] = value;
      continue;
    }
    if (starts_with(key, kTandemPrefix)) {
      if (key == "tandem.consumer.assignment") {
        if (value == "subscribe") {
          p.assign_all = false;
        } else if (value == "all") {
          p.assign_all = true;
        } else {
          return refuse(key, "expected 'subscribe' or 'all'");
        }
      } else if (key == "tandem.append.block.ms") {
        TANDEM_ASSIGN_OR_RETURN(p.append_block, parse_ms(key, value));
      } else if (key == "tandem.close.timeout.ms") {
        TANDEM_ASSIGN_OR_RETURN(p.close_timeout, parse_ms(key, value));
      } else {
        return error(Code::kInvalidArgument,
                     "kafka property '" + key +
                         "': unknown tandem setting (known: tandem.consumer.assignment, "
                         "tandem.append.block.ms, tandem.close.timeout.ms)");
      }
      continue;
    }
    for (int role = 0; role < 2; ++role) {
      const bool producer = role == 0;
      const std::string name = producer ? strip_role(key, kProducerPrefix, kConsumerPrefix)
                                        : strip_role(key, kConsumerPrefix, kProducerPrefix);
      if (name.empty()) continue;
      if (name == "bootstrap.servers" || name == "metadata.broker.list") {
        return refuse(key, "set the brokers through KafkaLogOptions::brokers");
      }
      if (name == "group.id") return refuse(key, "the group comes from Log::consumer(group)");
      if (producer && name == "acks" && value != "all" && value != "-1") {
        return refuse(key,
                      "the change log acknowledges a record only once every in-sync replica "
                      "has it; acks must be all (or -1)");
      }
      if (producer && name == "enable.idempotence" && value != "true") {
        return refuse(key,
                      "the producer must be idempotent (no duplicates or reordering on retry)");
      }
      if (!producer && name == "enable.auto.commit" && value != "false") {
        return refuse(key, "positions advance only through Consumer::commit()");
      }
      (producer ? p.producer : p.consumer).emplace_back(name, value);
    }
  }
  // The largest record the producer sends (the last message.max.bytes wins,
  // as in librdkafka), capped by the topic's limit when tandem creates it.
  // Room is left for the batch header (61 bytes), the record's own framing
  // and librdkafka's accounting, which counts more than key + value.
  uint64_t limit = 0;
  for (const auto& [k, v] : p.producer) {
    if (k == "message.max.bytes") limit = std::strtoull(v.c_str(), nullptr, 10);
  }
  auto topic_limit = p.topic_config.find("max.message.bytes");
  if (topic_limit != p.topic_config.end()) {
    limit = std::min<uint64_t>(limit, std::strtoull(topic_limit->second.c_str(), nullptr, 10));
  }
  constexpr uint64_t kFraming = 1024;
  p.max_record_bytes = limit > kFraming ? limit - kFraming : 0;
  return p;
}

Status conf_set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value,
                const Redactor& redact) {
  char errstr[512] = {0};
  const rd_kafka_conf_res_t r =
      rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr);
  if (r == RD_KAFKA_CONF_OK) return Status::ok();
  if (r == RD_KAFKA_CONF_UNKNOWN) {
    return error(Code::kInvalidArgument, "kafka property '" + name + "': no such librdkafka " +
                                             std::string(rd_kafka_version_str()) + " property");
  }
  // librdkafka quotes the offending value in some messages; never echo it.
  std::string detail = redact(errstr);
  if (!value.empty()) {
    const std::string quoted = "\"" + value + "\"";
    for (size_t pos = detail.find(quoted); pos != std::string::npos; pos = detail.find(quoted)) {
      detail.replace(pos, quoted.size(), "<value>");
    }
    if (value.size() >= 4) {
      for (size_t pos = detail.find(value); pos != std::string::npos; pos = detail.find(value)) {
        detail.replace(pos, value.size(), "<value>");
      }
    }
  }
  return error(Code::kInvalidArgument,
               "kafka property '" + name + "': invalid value (not shown): " + detail);
}

Status validate_with_librdkafka(const KafkaPlan& plan, const Redactor& redact) {
  for (const Properties* props : {&plan.producer, &plan.consumer}) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (const auto& [k, v] : *props) {
      Status s = conf_set(conf, k, v, redact);
      if (!s.is_ok()) {
        rd_kafka_conf_destroy(conf);
        return s;
      }
    }
    rd_kafka_conf_destroy(conf);
  }
  return Status::ok();
}

}  // namespace detail

const std::vector<std::string_view>& kafka_secret_properties() {
  // librdkafka's CONFIGURATION.md, plus the Java client's names that users
  // paste from their Kafka tooling.
  static const std::vector<std::string_view> kKnown = {
      "sasl.password",           "sasl.oauthbearer.client.secret",
      "sasl.oauthbearer.config", "sasl.oauthbearer.extensions",
      "ssl.key.password",        "ssl.key.pem",
      "ssl.keystore.password",   "ssl.truststore.password",
      "sasl.jaas.config",
  };
  return kKnown;
}

bool is_secret_kafka_property(std::string_view raw) {
  std::string n = detail::lower(raw);
  for (std::string_view role : {"producer.", "consumer."}) {
    if (n.compare(0, role.size(), role) == 0) n.erase(0, role.size());
  }
  for (std::string_view k : kafka_secret_properties()) {
    if (n == k) return true;
  }
  // Named like a secret but public: certificates, and where to fetch a token.
  for (std::string_view open :
       {"ssl.certificate.pem", "ssl.ca.pem", "sasl.oauthbearer.token.endpoint.url"}) {
    if (n == open) return false;
  }
  for (std::string_view word : {"password", "secret", "token", "jaas", "credential", "apikey",
                                "api.key", "private.key", "key.pem"}) {
    if (n.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace tandem::log
