// The Kafka change log on librdkafka's C API.
//
// Producer: idempotent, acks=all, murmur2_random partitioner (the same key ->
// partition mapping as Java's default partitioner and event::partition_for).
// One poll thread serves delivery reports, so every AppendCallback runs on
// that thread, exactly once. flush() waits on tandem's own bookkeeping
// (callbacks of earlier appends have *run*) instead of rd_kafka_flush(),
// which would serve callbacks on the caller's thread and wait for appends
// made after it too.
//
// Authentication and TLS errors: librdkafka treats them as transient (error
// callback, reconnect, retry until message.timeout.ms). The first one since
// the client last succeeded is kept and returned by open, flush, consumer
// poll and (authentication only) append, instead of a timeout minutes
// later; a successful delivery, read or metadata probe clears it.
//
// Consumers: one librdkafka high-level consumer per Consumer object, auto
// commit off, auto.offset.reset=earliest. Positions advance only through
// commit(); a rebalance drops uncommitted progress, so the next owner of a
// partition reads again from the last commit (at-least-once).
#include "log/kafka_log.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

namespace tandem::log {
namespace kafka_internal {
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

namespace {

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

}  // namespace

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

}  // namespace kafka_internal

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
  std::string n = kafka_internal::lower(raw);
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

namespace {

using kafka_internal::KafkaPlan;
using kafka_internal::Properties;
using kafka_internal::Redactor;
using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kSlice{100};  // waits that watch for errors

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT32_MAX));
}

Code code_for(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return Code::kTimeout;
    case RD_KAFKA_RESP_ERR__SSL:
      return Code::kTls;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
      return Code::kUnauthorized;
    // Refused for good (the Log contract's kInvalidArgument): this record
    // will never fit or never be valid, whatever is retried.
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
      return Code::kInvalidArgument;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return Code::kResourceExhausted;
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return Code::kNotFound;
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return Code::kInvalidArgument;
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
      return Code::kFailedPrecondition;
    default:
      return Code::kUnavailable;
  }
}

rd_kafka_conf_t* make_conf(const Properties& props, const Redactor& redact, Status* st) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : props) {
    *st = kafka_internal::conf_set(conf, k, v, redact);
    if (!st->is_ok()) {
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  return conf;
}

std::string err_text(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2str(err)) + " (" + rd_kafka_err2name(err) + ")";
}

bool retriable(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
      return true;
    default:
      return false;
  }
}

// Low and high watermark of one partition; retries leadership changes and
// transport errors until the deadline.
template <typename Suffix>
Status query_watermarks(rd_kafka_t* rk, const std::string& topic, int32_t partition,
                        Clock::time_point deadline, int64_t* lo, int64_t* hi, Suffix suffix) {
  for (;;) {
    const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        rk, topic.c_str(), partition, lo, hi, std::max(remaining_ms(deadline), 1));
    if (!err) return Status::ok();
    if (!retriable(err) || Clock::now() >= deadline) {
      return error(code_for(err), "failed: " + err_text(err) + suffix());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Authentication and TLS failures are not fatal to librdkafka: it reports
// them through the error callback, reconnects and retries until each
// request's own timeout (message.timeout.ms is minutes). Left alone, a wrong
// password shows up as a silent timeout. The kind of error the caller must
// hear about at once, or kOk for any other error.
Code security_code(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
      return Code::kUnauthorized;
    case RD_KAFKA_RESP_ERR__SSL:
      return Code::kTls;
    default:
      return Code::kOk;
  }
}

// What both clients share: the redactor and the error callback's memory.
class ClientBase {
 public:
  explicit ClientBase(const KafkaLogOptions& o) : opts_(o), redact_(o.properties) {}

  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    static_cast<ClientBase*>(opaque)->record_error(rk, static_cast<rd_kafka_resp_err_t>(err),
                                                   reason);
  }

 protected:
  void record_error(rd_kafka_t* rk, rd_kafka_resp_err_t err, const char* reason) {
    std::string text = redact_(reason ? reason : rd_kafka_err2str(err));
    std::lock_guard<std::mutex> l(err_mu_);
    if (err == RD_KAFKA_RESP_ERR__FATAL && !fatal_) {
      char buf[512] = {0};
      const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
      fatal_reason_ = redact_(buf) + " (" + rd_kafka_err2name(orig) + ")";
      fatal_ = true;
    }
    const Code sc = security_code(err);
    if (sc != Code::kOk && security_error_.is_ok()) {
      security_error_ = error(
          sc, std::string(sc == Code::kTls ? "TLS handshake failed" : "authentication failed") +
                  " (security.protocol, sasl.* or ssl.* settings?): " + text + " (" +
                  rd_kafka_err2name(err) + ")");
      has_security_error_ = true;
    }
    last_error_ = std::move(text);
  }
  // The first authentication/TLS error since the client last succeeded
  // (ok if none), with `where` as context.
  Status security_error(const std::string& where) {
    if (!has_security_error_.load()) return Status::ok();
    std::lock_guard<std::mutex> l(err_mu_);
    return security_error_.is_ok() ? Status::ok() : security_error_.context(where);
  }
  // A request got through: earlier authentication/TLS errors are history.
  void security_ok() {
    if (!has_security_error_.load()) return;
    std::lock_guard<std::mutex> l(err_mu_);
    security_error_ = Status::ok();
    has_security_error_ = false;
  }
  // While a security error stands, asks the brokers for metadata (at most
  // `wait`): an answer means the settings or the broker were fixed.
  void probe_security(rd_kafka_t* rk, std::chrono::milliseconds wait) {
    if (!has_security_error_.load()) return;
    const rd_kafka_metadata_t* md = nullptr;
    if (!rd_kafka_metadata(rk, 0, nullptr, &md, static_cast<int>(wait.count()))) {
      rd_kafka_metadata_destroy(md);
      security_ok();
    }
  }
  // "; last client error: ..." or empty.
  std::string last_error_suffix() {
    std::lock_guard<std::mutex> l(err_mu_);
    return last_error_.empty() ? std::string() : "; last client error: " + last_error_;
  }
  bool fatal() const { return fatal_.load(); }
  std::string fatal_reason() {
    std::lock_guard<std::mutex> l(err_mu_);
    return fatal_reason_;
  }

  const KafkaLogOptions opts_;
  const Redactor redact_;

 private:
  std::mutex err_mu_;
  std::string last_error_;
  std::string fatal_reason_;
  std::atomic<bool> fatal_{false};
  Status security_error_;
  std::atomic<bool> has_security_error_{false};
};

std::vector<int32_t> all_partitions(int32_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

// ---------------------------------------------------------------------------
// Consumer

class KafkaConsumer final : public Consumer, public ClientBase {
 public:
  KafkaConsumer(const KafkaLogOptions& o, const KafkaPlan& plan, std::string group,
                int32_t partitions)
      : ClientBase(o), plan_(plan), group_(std::move(group)), partitions_(partitions) {}

  ~KafkaConsumer() override {
    if (!rk_) return;
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
  }

  Status start() {
    Properties props = plan_.consumer;
    props.emplace_back("group.id", group_);
    Status st;
    rd_kafka_conf_t* conf = make_conf(props, redact_, &st);
    if (!conf) return st.context(where());
    rd_kafka_conf_set_opaque(conf, static_cast<ClientBase*>(this));
    rd_kafka_conf_set_error_cb(conf, &ClientBase::on_error);
    if (!plan_.assign_all) rd_kafka_conf_set_rebalance_cb(conf, &KafkaConsumer::on_rebalance);
    char errstr[512] = {0};
    rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk_) {
      rd_kafka_conf_destroy(conf);
      return error(Code::kInvalidArgument,
                   where() + ": cannot create consumer: " + redact_(errstr));
    }
    rd_kafka_poll_set_consumer(rk_);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions_);
    rd_kafka_resp_err_t err;
    if (plan_.assign_all) {
      for (int32_t p : all_partitions(partitions_)) {
        rd_kafka_topic_partition_list_add(list, opts_.topic.c_str(), p)->offset =
            RD_KAFKA_OFFSET_INVALID;  // the committed position, else auto.offset.reset
      }
      err = rd_kafka_assign(rk_, list);
      if (!err) {
        std::lock_guard<std::mutex> l(mu_);
        for (int32_t p : all_partitions(partitions_)) assigned_.insert(p);
      }
    } else {
      rd_kafka_topic_partition_list_add(list, opts_.topic.c_str(), RD_KAFKA_PARTITION_UA);
      err = rd_kafka_subscribe(rk_, list);
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (err) return error(code_for(err), where() + ": cannot start consuming: " + err_text(err));
    return Status::ok();
  }

  Result<std::vector<Record>> poll(size_t max_records, std::chrono::milliseconds timeout) override {
    if (!pending_error_.is_ok()) {
      Status s = std::move(pending_error_);
      pending_error_ = Status::ok();
      return s;
    }
    if (fatal()) {
      return error(Code::kFailedPrecondition,
                   where() + ": fatal consumer error: " + fatal_reason());
    }
    std::vector<Record> out;
    const auto deadline = Clock::now() + timeout;
    while (out.size() < max_records) {
      const int wait = out.empty() ? remaining_ms(deadline) : 0;
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, wait);
      if (!m) {
        if (out.empty() && Clock::now() < deadline) continue;
        break;
      }
      if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          rd_kafka_message_destroy(m);
          continue;
        }
        Status s = error(
            code_for(m->err),
            where() +
                (m->partition >= 0 ? " partition " + std::to_string(m->partition) : std::string()) +
                ": " + redact_(rd_kafka_message_errstr(m)) + " (" + rd_kafka_err2name(m->err) +
                ")");
        rd_kafka_message_destroy(m);
        if (out.empty()) return s;
        pending_error_ = std::move(s);
        break;
      }
      security_ok();
      Record r{Partition(m->partition), Offset(m->offset), std::string(), std::string()};
      if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_message_destroy(m);
      out.push_back(std::move(r));
    }
    if (out.empty()) {
      // Nothing read: because the brokers refuse us? (A metadata answer
      // clears an earlier error.)
      probe_security(rk_, std::chrono::milliseconds(500));
      TANDEM_RETURN_IF_ERROR(security_error(where()));
    }
    return out;
  }

  Status commit(const std::map<Partition, Offset>& next_offsets) override {
    if (next_offsets.empty()) return Status::ok();
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size()));
    for (const auto& [p, o] : next_offsets) {
      if (p.get() < 0 || p.get() >= partitions_ || o.get() < 0) {
        rd_kafka_topic_partition_list_destroy(list);
        return error(Code::kInvalidArgument, where() + ": cannot commit offset " +
                                                 std::to_string(o.get()) + " for partition " +
                                                 std::to_string(p.get()));
      }
      rd_kafka_topic_partition_list_add(list, opts_.topic.c_str(), p.get())->offset = o.get();
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list, 0 /* synchronous */);
    int32_t failed_partition = -1;
    if (!err) {
      for (int i = 0; i < list->cnt; ++i) {
        if (list->elems[i].err) {
          err = list->elems[i].err;
          failed_partition = list->elems[i].partition;
          break;
        }
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (!err) return Status::ok();
    return error(code_for(err),
                 where() +
                     (failed_partition >= 0 ? " partition " + std::to_string(failed_partition)
                                            : std::string()) +
                     ": commit failed: " + err_text(err) + last_error_suffix());
  }

  Result<std::map<Partition, Offset>> committed() override {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions_);
    for (int32_t p : all_partitions(partitions_)) {
      rd_kafka_topic_partition_list_add(list, opts_.topic.c_str(), p);
    }
    rd_kafka_resp_err_t err =
        rd_kafka_committed(rk_, list, static_cast<int>(opts_.admin_timeout.count()));
    std::map<Partition, Offset> out;
    int32_t failed_partition = -1;
    for (int i = 0; !err && i < list->cnt; ++i) {
      const rd_kafka_topic_partition_t& e = list->elems[i];
      if (e.err) {
        err = e.err;
        failed_partition = e.partition;
      } else if (e.offset >= 0) {
        out.emplace(Partition(e.partition), Offset(e.offset));
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (!err) return out;
    return error(code_for(err),
                 where() +
                     (failed_partition >= 0 ? " partition " + std::to_string(failed_partition)
                                            : std::string()) +
                     ": reading committed offsets failed: " + err_text(err) + last_error_suffix());
  }

  Status seek(Partition p, Offset next) override {
    if (p.get() < 0 || p.get() >= partitions_ || next.get() < 0) {
      return error(Code::kInvalidArgument, where() + ": cannot seek partition " +
                                               std::to_string(p.get()) + " to offset " +
                                               std::to_string(next.get()));
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, opts_.topic.c_str(), p.get())->offset = next.get();
    rd_kafka_error_t* e = nullptr;
    if (plan_.assign_all) {
      // Restart the partition's fetcher at exactly `next`: an explicit start
      // offset cannot race with the committed-offset lookup of the initial
      // assignment the way rd_kafka_seek could.
      e = rd_kafka_incremental_unassign(rk_, list);
      if (!e) e = rd_kafka_incremental_assign(rk_, list);
    } else {
      std::unique_lock<std::mutex> l(mu_);
      if (!assigned_.count(p.get())) {
        // Applied when the group assigns the partition to this consumer.
        pending_seeks_[p.get()] = next.get();
        l.unlock();
        rd_kafka_topic_partition_list_destroy(list);
        return Status::ok();
      }
      l.unlock();
      e = rd_kafka_seek_partitions(rk_, list, static_cast<int>(opts_.admin_timeout.count()));
      if (!e && list->elems[0].err) {
        e = rd_kafka_error_new(list->elems[0].err, "%s", rd_kafka_err2str(list->elems[0].err));
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (!e) return Status::ok();
    Status s = error(code_for(rd_kafka_error_code(e)),
                     where() + " partition " + std::to_string(p.get()) + ": seek to offset " +
                         std::to_string(next.get()) + " failed: " + rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return s;
  }

  Result<std::vector<PartitionLag>> lag() override {
    TANDEM_ASSIGN_OR_RETURN(auto done, committed());
    std::vector<PartitionLag> out;
    for (int32_t p : all_partitions(partitions_)) {
      int64_t lo = 0, hi = 0;
      TANDEM_RETURN_IF_ERROR(
          query_watermarks(rk_, opts_.topic, p, Clock::now() + opts_.admin_timeout, &lo, &hi,
                           [this] { return last_error_suffix(); })
              .context(where() + " partition " + std::to_string(p) + ": reading the end offset"));
      auto it = done.find(Partition(p));
      out.push_back(
          PartitionLag{Partition(p), it == done.end() ? Offset(-1) : it->second, Offset(hi)});
    }
    return out;
  }

 private:
  std::string where() const {
    return "kafka consumer group " + group_ + " on topic " + opts_.topic + " at " + opts_.brokers;
  }

  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<KafkaConsumer*>(static_cast<ClientBase*>(opaque));
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t* e = nullptr;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      {
        std::lock_guard<std::mutex> l(self->mu_);
        for (int i = 0; i < parts->cnt; ++i) {
          rd_kafka_topic_partition_t& tp = parts->elems[i];
          auto it = self->pending_seeks_.find(tp.partition);
          if (it != self->pending_seeks_.end()) {
            tp.offset = it->second;
            self->pending_seeks_.erase(it);
          }
          self->assigned_.insert(tp.partition);
        }
      }
      if (cooperative) {
        e = rd_kafka_incremental_assign(rk, parts);
      } else {
        rd_kafka_assign(rk, parts);
      }
    } else {
      // Revoked (or lost): nothing is committed here -- positions move only
      // through commit() -- so the next owner resumes at the last commit.
      {
        std::lock_guard<std::mutex> l(self->mu_);
        if (cooperative) {
          for (int i = 0; i < parts->cnt; ++i) self->assigned_.erase(parts->elems[i].partition);
        } else {
          self->assigned_.clear();
        }
      }
      if (cooperative) {
        e = rd_kafka_incremental_unassign(rk, parts);
      } else {
        rd_kafka_assign(rk, nullptr);
      }
    }
    if (e) rd_kafka_error_destroy(e);
  }

  const KafkaPlan plan_;
  const std::string group_;
  const int32_t partitions_;
  rd_kafka_t* rk_ = nullptr;
  Status pending_error_;
  std::mutex mu_;
  std::set<int32_t> assigned_;
  std::map<int32_t, int64_t> pending_seeks_;
};

// ---------------------------------------------------------------------------
// Log (producer)

class KafkaLog final : public Log, public ClientBase {
 public:
  KafkaLog(const KafkaLogOptions& o, KafkaPlan plan) : ClientBase(o), plan_(std::move(plan)) {}

  ~KafkaLog() override {
    if (!rk_) return;
    if (poller_.joinable()) {
      if (!flush(plan_.close_timeout).is_ok()) {
        // Fail what is left rather than lose a callback.
        rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        (void)flush(std::chrono::seconds(10));
      }
      stop_ = true;
      poller_.join();
    }
    if (rkt_) rd_kafka_topic_destroy(rkt_);
    rd_kafka_destroy(rk_);
  }

  Status start() {
    Status st;
    rd_kafka_conf_t* conf = make_conf(plan_.producer, redact_, &st);
    if (!conf) return st.context(where());
    rd_kafka_conf_set_opaque(conf, static_cast<ClientBase*>(this));
    rd_kafka_conf_set_dr_msg_cb(conf, &KafkaLog::on_delivery);
    rd_kafka_conf_set_error_cb(conf, &ClientBase::on_error);
    char errstr[512] = {0};
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk_) {
      rd_kafka_conf_destroy(conf);
      return error(Code::kInvalidArgument,
                   where() + ": cannot create producer: " + redact_(errstr));
    }
    poller_ = std::thread([this] {
      while (!stop_.load()) {
        rd_kafka_poll(rk_, 100);
        probe_security(rk_, std::chrono::milliseconds(1000));
      }
      rd_kafka_poll(rk_, 0);
    });
    return Status::ok();
  }

  // Creates the topic if needed and waits until every partition has a leader.
  Status ensure_topic() {
    const auto deadline = Clock::now() + opts_.admin_timeout;
    // All topics: asking for just ours could auto-create it with the
    // broker's default partition count.
    // In short slices, so an authentication or TLS failure (reported only
    // through the error callback) ends the wait at once.
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err;
    for (;;) {
      err = rd_kafka_metadata(rk_, 1, nullptr, &md, std::clamp(remaining_ms(deadline), 1, 250));
      if (!err) break;
      TANDEM_RETURN_IF_ERROR(
          security_error("kafka brokers " + opts_.brokers + " (topic " + opts_.topic + ")"));
      if (Clock::now() >= deadline) break;
      // A request cut short (the connection failed, e.g. in SASL
      // authentication) ends before the error callback has run: give it
      // time, then ask again.
      if (err != RD_KAFKA_RESP_ERR__TIMED_OUT) std::this_thread::sleep_for(kSlice);
    }
    if (err) {
      return error(Code::kUnavailable, "kafka brokers " + opts_.brokers + " unreachable within " +
                                           std::to_string(opts_.admin_timeout.count()) +
                                           " ms (topic " + opts_.topic + "): " + err_text(err) +
                                           last_error_suffix());
    }
    const int brokers = md->broker_cnt;
    bool exists = false;
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (opts_.topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        exists = true;
      }
    }
    rd_kafka_metadata_destroy(md);
    if (!exists) {
      if (brokers < opts_.replication) {
        return error(Code::kInvalidArgument,
                     "kafka brokers " + opts_.brokers + ": cannot create topic " + opts_.topic +
                         " with replication " + std::to_string(opts_.replication) +
                         ": the cluster has only " + std::to_string(brokers) + " broker(s)");
      }
      TANDEM_RETURN_IF_ERROR(create_topic(deadline));
    }
    rkt_ = rd_kafka_topic_new(rk_, opts_.topic.c_str(), nullptr);
    if (!rkt_) {
      return error(Code::kInternal,
                   where() + ": rd_kafka_topic_new failed: " + err_text(rd_kafka_last_error()));
    }
    std::string not_ready = "no metadata yet";
    for (;;) {
      err = rd_kafka_metadata(rk_, 0, rkt_, &md, std::max(remaining_ms(deadline), 1));
      if (!err) {
        bool ready = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                     md->topics[0].partition_cnt > 0;
        if (md->topic_cnt == 1 && md->topics[0].err) not_ready = err_text(md->topics[0].err);
        for (int i = 0; ready && i < md->topics[0].partition_cnt; ++i) {
          const rd_kafka_metadata_partition_t& p = md->topics[0].partitions[i];
          if (p.err || p.leader < 0) {
            ready = false;
            not_ready = "partition " + std::to_string(p.id) + " has no leader" +
                        (p.err ? ": " + err_text(p.err) : std::string());
          }
        }
        const int count = ready ? md->topics[0].partition_cnt : 0;
        rd_kafka_metadata_destroy(md);
        if (ready) {
          // Leaders are known; make sure each answers offset queries too
          // (a new partition's leader may not have taken over yet).
          partitions_ = count;
          for (int32_t p : all_partitions(count)) {
            int64_t lo = 0, hi = 0;
            TANDEM_RETURN_IF_ERROR(
                query_watermarks(rk_, opts_.topic, p, deadline, &lo, &hi,
                                 [this] { return last_error_suffix(); })
                    .context(where() + " partition " + std::to_string(p) + ": not ready within " +
                             std::to_string(opts_.admin_timeout.count()) + " ms"));
          }
          return Status::ok();
        }
      } else {
        not_ready = err_text(err);
      }
      if (Clock::now() >= deadline) {
        return error(Code::kUnavailable, where() + ": topic not ready within " +
                                             std::to_string(opts_.admin_timeout.count()) +
                                             " ms: " + not_ready + last_error_suffix());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  std::string describe() const override {
    return "kafka topic " + opts_.topic + " at " + opts_.brokers;
  }
  int32_t partitions() const override { return partitions_; }
  uint64_t max_record_bytes() const override { return plan_.max_record_bytes; }

  void append(std::vector<AppendRecord> batch) override {
    const bool on_poller = std::this_thread::get_id() == poller_.get_id();
    for (AppendRecord& rec : batch) {
      const int32_t partition = rec.partition;
      auto* p = new Pending{std::move(rec.key), std::move(rec.value), std::move(rec.done), 0};
      {
        std::lock_guard<std::mutex> l(mu_);
        p->seq = base_ + done_.size();
        done_.push_back(false);
      }
      if (fatal()) {
        finish(
            p,
            error(Code::kFailedPrecondition,
                  where() + ": the producer hit a fatal error, reopen the log: " + fatal_reason()),
            Partition(-1), Offset(-1));
        continue;
      }
      // The brokers refuse our credentials: fail now rather than after
      // message.timeout.ms. (TLS errors are not failed here: a broker going
      // down mid-handshake reports one, and the record may yet get through.)
      if (Status sec = security_error("kafka append to " + where());
          sec.code() == Code::kUnauthorized) {
        finish(p, sec, Partition(-1), Offset(-1));
        continue;
      }
      if (partition >= partitions_) {
        finish(p,
               error(Code::kInvalidArgument, where() + ": no partition " +
                                                 std::to_string(partition) + " (the topic has " +
                                                 std::to_string(partitions_) + ")"),
               Partition(-1), Offset(-1));
        continue;
      }
      const auto block_until = Clock::now() + plan_.append_block;
      rd_kafka_resp_err_t err;
      for (;;) {
        err = rd_kafka_producev(
            rk_, RD_KAFKA_V_RKT(rkt_),
            RD_KAFKA_V_PARTITION(partition >= 0 ? partition : RD_KAFKA_PARTITION_UA),
            RD_KAFKA_V_KEY(p->key.data(), p->key.size()),
            RD_KAFKA_V_VALUE(p->value.empty() ? nullptr : p->value.data(), p->value.size()),
            RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || on_poller || Clock::now() >= block_until) break;
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait_for(l, std::chrono::milliseconds(5));
      }
      if (err) {
        Status s = append_error(err, -1);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          s = error(Code::kResourceExhausted,
                    s.message() + " (producer queue full for " +
                        std::to_string(on_poller ? 0 : plan_.append_block.count()) + " ms)");
        }
        finish(p, s, Partition(-1), Offset(-1));
      }
    }
  }

  Status flush(std::chrono::milliseconds deadline) override {
    if (std::this_thread::get_id() == poller_.get_id()) {
      return error(Code::kFailedPrecondition,
                   where() + ": flush() called from an append callback would deadlock");
    }
    std::unique_lock<std::mutex> l(mu_);
    const uint64_t target = base_ + done_.size();
    const auto until = Clock::now() + deadline;
    // In slices, to return an authentication/TLS error as soon as one
    // stands instead of waiting out the deadline.
    while (!cv_.wait_for(l, std::min<Clock::duration>(until - Clock::now(), kSlice),
                         [&] { return base_ >= target; })) {
      if (Clock::now() >= until) break;
      const uint64_t pending = target - base_;
      l.unlock();
      Status sec = security_error(where() + ": " + std::to_string(pending) +
                                  " record(s) not yet acknowledged");
      if (!sec.is_ok()) return sec;
      l.lock();
    }
    if (base_ >= target) return Status::ok();
    const uint64_t left = target - base_;
    l.unlock();
    return error(Code::kTimeout,
                 where() + ": " + std::to_string(left) + " record(s) not yet acknowledged after " +
                     std::to_string(deadline.count()) + " ms" + last_error_suffix());
  }

  Result<std::vector<Offset>> end_offsets() override { return watermarks(true); }
  Result<std::vector<Offset>> begin_offsets() override { return watermarks(false); }

  Result<std::unique_ptr<Consumer>> consumer(const std::string& group) override {
    if (group.empty()) {
      return error(Code::kInvalidArgument, where() + ": consumer group name is empty");
    }
    auto c = std::make_unique<KafkaConsumer>(opts_, plan_, group, partitions_);
    TANDEM_RETURN_IF_ERROR(c->start());
    return std::unique_ptr<Consumer>(std::move(c));
  }

  // Reads the group's committed offsets with a manually assigned consumer:
  // a subscribing one would join the group and take partitions away from
  // the running loader at every call (a rebalance each time `status` or a
  // cutover's catch-up polls the lag).
  Result<std::vector<PartitionLag>> group_lag(const std::string& group) override {
    if (group.empty()) {
      return error(Code::kInvalidArgument, where() + ": consumer group name is empty");
    }
    auto plan = plan_;
    plan.assign_all = true;
    KafkaConsumer c(opts_, plan, group, partitions_);
    TANDEM_RETURN_IF_ERROR(c.start());
    return c.lag();
  }

 private:
  struct Pending {
    std::string key;
    std::string value;
    AppendCallback done;
    uint64_t seq;
  };

  std::string where() const { return "kafka topic " + opts_.topic + " at " + opts_.brokers; }

  Status append_error(rd_kafka_resp_err_t err, int32_t partition) {
    // A record that timed out behind an authentication/TLS failure says so.
    const Code sec = security_error("").code();
    return error(sec != Code::kOk ? sec : code_for(err),
                 "kafka append to topic " + opts_.topic + " partition " +
                     (partition >= 0 ? std::to_string(partition) : std::string("(unassigned)")) +
                     " at " + opts_.brokers + " failed: " + err_text(err) + last_error_suffix());
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaLog*>(static_cast<ClientBase*>(opaque));
    auto* p = static_cast<Pending*>(m->_private);
    if (!p) return;
    if (!m->err) self->security_ok();
    if (m->err) {
      self->finish(p, self->append_error(m->err, m->partition), Partition(m->partition),
                   Offset(-1));
    } else {
      self->finish(p, Status::ok(), Partition(m->partition), Offset(m->offset));
    }
  }

  // Runs the record's callback, then marks it done for flush().
  void finish(Pending* p, const Status& s, Partition part, Offset off) {
    if (p->done) p->done(s, part, off);
    const uint64_t seq = p->seq;
    delete p;
    std::lock_guard<std::mutex> l(mu_);
    done_[seq - base_] = true;
    bool advanced = false;
    while (!done_.empty() && done_.front()) {
      done_.pop_front();
      ++base_;
      advanced = true;
    }
    if (advanced) cv_.notify_all();
  }

  Status create_topic(Clock::time_point deadline) {
    char errstr[512] = {0};
    const std::string what = "kafka brokers " + opts_.brokers + ": creating topic " + opts_.topic +
                             " (" + std::to_string(opts_.partitions) + " partitions, replication " +
                             std::to_string(opts_.replication) + ")";
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(opts_.topic.c_str(), opts_.partitions,
                                                    opts_.replication, errstr, sizeof errstr);
    if (!nt) return error(Code::kInvalidArgument, what + ": " + errstr);
    for (const auto& [k, v] : plan_.topic_config) {
      if (rd_kafka_resp_err_t e = rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str())) {
        rd_kafka_NewTopic_destroy(nt);
        return error(Code::kInvalidArgument, what + ": topic config '" + k + "': " + err_text(e));
      }
    }
    const int ms = std::max(remaining_ms(deadline), 1);
    rd_kafka_AdminOptions_t* ao = rd_kafka_AdminOptions_new(rk_, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    (void)rd_kafka_AdminOptions_set_request_timeout(ao, ms, errstr, sizeof errstr);
    (void)rd_kafka_AdminOptions_set_operation_timeout(ao, ms, errstr, sizeof errstr);
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk_);
    rd_kafka_CreateTopics(rk_, &nt, 1, ao, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, ms + 2000);
    Status st;
    if (!ev) {
      st = error(Code::kTimeout,
                 what + ": no answer within " + std::to_string(ms) + " ms" + last_error_suffix());
    } else if (rd_kafka_resp_err_t e = rd_kafka_event_error(ev)) {
      st = error(code_for(e), what + ": " + redact_(rd_kafka_event_error_string(ev)) + " (" +
                                  rd_kafka_err2name(e) + ")" + last_error_suffix());
    } else {
      size_t n = 0;
      const rd_kafka_topic_result_t** res =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
      for (size_t i = 0; i < n; ++i) {
        const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
          const char* msg = rd_kafka_topic_result_error_string(res[i]);
          st = error(code_for(e), what + ": " + (msg ? std::string(msg) : err_text(e)) + " (" +
                                      rd_kafka_err2name(e) + ")");
        }
      }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    return st;
  }

  Result<std::vector<Offset>> watermarks(bool high) {
    std::vector<Offset> out;
    out.reserve(static_cast<size_t>(partitions_));
    const auto deadline = Clock::now() + opts_.admin_timeout;
    for (int32_t p : all_partitions(partitions_)) {
      int64_t lo = 0, hi = 0;
      TANDEM_RETURN_IF_ERROR(query_watermarks(rk_, opts_.topic, p, deadline, &lo, &hi,
                                              [this] { return last_error_suffix(); })
                                 .context(where() + " partition " + std::to_string(p) +
                                          ": reading the " + (high ? "end" : "begin") + " offset"));
      out.push_back(Offset(high ? hi : lo));
    }
    return out;
  }

  const KafkaPlan plan_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_topic_t* rkt_ = nullptr;
  int32_t partitions_ = 0;
  std::thread poller_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<bool> done_;  // done_[i]: callback of record base_ + i has run
  uint64_t base_ = 0;
};

}  // namespace

Result<std::unique_ptr<Log>> open_kafka_log(const KafkaLogOptions& opts) {
  TANDEM_ASSIGN_OR_RETURN(KafkaPlan p, kafka_internal::plan(opts));
  const Redactor redact(opts.properties);
  TANDEM_RETURN_IF_ERROR(kafka_internal::validate_with_librdkafka(p, redact));
  auto log = std::make_unique<KafkaLog>(opts, std::move(p));
  TANDEM_RETURN_IF_ERROR(log->start());
  TANDEM_RETURN_IF_ERROR(log->ensure_topic());
  return std::unique_ptr<Log>(std::move(log));
}

}  // namespace tandem::log
