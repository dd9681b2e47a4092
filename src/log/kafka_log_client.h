// Internal to the Kafka change log: what its producer/admin side
// (kafka_log.cc) and its consumer (kafka_log_consumer.cc) share -- the
// librdkafka helpers (kafka_log_client.cc), the client base that remembers
// errors, and the consumer class. Configuration: kafka_log.h and
// kafka_log_config.cc.
#pragma once

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "log/kafka_log.h"
#include "log/log.h"

namespace tandem::log::detail {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kSlice{100};  // waits that watch for errors

// Sets one property on `conf`; errors name the property, never its value
// (kafka_log_config.cc).
Status conf_set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value,
                const Redactor& redact);

int remaining_ms(Clock::time_point deadline);

Code code_for(rd_kafka_resp_err_t err);

rd_kafka_conf_t* make_conf(const Properties& props, const Redactor& redact, Status* st);

std::string err_text(rd_kafka_resp_err_t err);

bool retriable(rd_kafka_resp_err_t err);

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
Code security_code(rd_kafka_resp_err_t err);

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
    MutexLock l(err_mu_);
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
    MutexLock l(err_mu_);
    return security_error_.is_ok() ? Status::ok() : security_error_.context(where);
  }
  // A request got through: earlier authentication/TLS errors are history.
  void security_ok() {
    if (!has_security_error_.load()) return;
    MutexLock l(err_mu_);
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
    MutexLock l(err_mu_);
    return last_error_.empty() ? std::string() : "; last client error: " + last_error_;
  }
  bool fatal() const { return fatal_.load(); }
  std::string fatal_reason() {
    MutexLock l(err_mu_);
    return fatal_reason_;
  }

  const KafkaLogOptions opts_;
  const Redactor redact_;

 private:
  Mutex err_mu_;
  std::string last_error_ TANDEM_GUARDED_BY(err_mu_);
  std::string fatal_reason_ TANDEM_GUARDED_BY(err_mu_);
  std::atomic<bool> fatal_{false};
  Status security_error_ TANDEM_GUARDED_BY(err_mu_);
  std::atomic<bool> has_security_error_{false};
};

std::vector<int32_t> all_partitions(int32_t n);

// ---------------------------------------------------------------------------
// Consumer (kafka_log_consumer.cc)

class KafkaConsumer final : public Consumer, public ClientBase {
 public:
  KafkaConsumer(const KafkaLogOptions& o, const KafkaPlan& plan, std::string group,
                int32_t partitions)
      : ClientBase(o), plan_(plan), group_(std::move(group)), partitions_(partitions) {}

  ~KafkaConsumer() override;

  Status start();

  Result<std::vector<Record>> poll(size_t max_records, std::chrono::milliseconds timeout) override;

  Status commit(const std::map<Partition, Offset>& next_offsets) override;

  Result<std::map<Partition, Offset>> committed() override;

  Status seek(Partition p, Offset next) override;

  Result<std::vector<PartitionLag>> lag() override;

 private:
  std::string where() const;

  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque);

  const KafkaPlan plan_;
  const std::string group_;
  const int32_t partitions_;
  rd_kafka_t* rk_ = nullptr;
  Status pending_error_;
  Mutex mu_;
  // Written by the rebalance callback (librdkafka's thread, inside poll)
  // and read by seek() from the caller's thread.
  std::set<int32_t> assigned_ TANDEM_GUARDED_BY(mu_);
  std::map<int32_t, int64_t> pending_seeks_ TANDEM_GUARDED_BY(mu_);
};

}  // namespace tandem::log::detail
