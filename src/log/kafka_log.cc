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
//
// Files: this one is the producer and the admin side (topic, offsets, the
// Log); kafka_log_consumer.cc the consumer; kafka_log_config.cc property
// planning and redaction; kafka_log_client.{h,cc} what they share.
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

#include "core/mutex.h"
#include "core/thread_name.h"
#include "log/kafka_log_client.h"

namespace tandem::log {

namespace {

using namespace detail;

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
      name_this_thread("tandem-kpoll");
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

  // A run of records bound for one partition is enqueued with one
  // rd_kafka_produce_batch() call: with linger.ms 0 (the proxy's setting)
  // each rd_kafka_producev() wakes the broker thread, which then sends what
  // it found, so a 100-record request left as several ProduceRequests; one
  // enqueue lets the broker thread find the whole run at once. A record the
  // batch call could not take for a full queue goes through producev() with
  // the blocking wait below; any other refusal fails that record alone.
  void append(std::vector<AppendRecord> batch) override {
    const bool on_poller = std::this_thread::get_id() == poller_.get_id();
    // The brokers refuse our credentials: fail now rather than after
    // message.timeout.ms. (TLS errors are not failed here: a broker going
    // down mid-handshake reports one, and the record may yet get through.)
    Status sec = security_error("kafka append to " + where());
    if (sec.code() != Code::kUnauthorized) sec = Status::ok();
    std::vector<Pending*> run;
    std::vector<rd_kafka_message_t> msgs;
    int32_t run_partition = 0;
    auto flush_run = [&] {
      if (run.empty()) return;
      produce_run(run_partition, run, msgs, on_poller);
      run.clear();
    };
    for (AppendRecord& rec : batch) {
      const int32_t partition = rec.partition;
      auto* p = new Pending{std::move(rec.key), std::move(rec.value), std::move(rec.done), 0};
      {
        MutexLock l(mu_);
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
      if (!sec.is_ok()) {
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
      const int32_t target = partition >= 0 ? partition : RD_KAFKA_PARTITION_UA;
      if (!run.empty() && target != run_partition) flush_run();
      run_partition = target;
      run.push_back(p);
    }
    flush_run();
  }

  Status flush(std::chrono::milliseconds deadline) override {
    if (std::this_thread::get_id() == poller_.get_id()) {
      return error(Code::kFailedPrecondition,
                   where() + ": flush() called from an append callback would deadlock");
    }
    const auto until = Clock::now() + deadline;
    uint64_t target = 0;
    {
      MutexLock l(mu_);
      target = base_ + done_.size();
    }
    // In slices, to return an authentication/TLS error as soon as one
    // stands instead of waiting out the deadline.
    for (;;) {
      uint64_t pending = 0;
      {
        MutexLock l(mu_);
        const auto slice_end = std::min<Clock::time_point>(until, Clock::now() + kSlice);
        while (base_ < target && Clock::now() < slice_end) cv_.wait_until(mu_, slice_end);
        if (base_ >= target) return Status::ok();
        pending = target - base_;
      }
      if (Clock::now() >= until) {
        return error(Code::kTimeout, where() + ": " + std::to_string(pending) +
                                         " record(s) not yet acknowledged after " +
                                         std::to_string(deadline.count()) + " ms" +
                                         last_error_suffix());
      }
      Status sec = security_error(where() + ": " + std::to_string(pending) +
                                  " record(s) not yet acknowledged");
      if (!sec.is_ok()) return sec;
    }
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
    // One reader per group, kept: a cutover's catch-up polls the lag every
    // few milliseconds while writes are held, and a fresh client per call
    // (bootstrap, metadata) cost more than the reads themselves. It never
    // joins the group (assign, not subscribe), and a failed read drops it so
    // the next call starts over.
    MutexLock l(lag_mu_);
    auto it = lag_readers_.find(group);
    if (it == lag_readers_.end()) {
      auto plan = plan_;
      plan.assign_all = true;
      auto c = std::make_unique<KafkaConsumer>(opts_, plan, group, partitions_);
      TANDEM_RETURN_IF_ERROR(c->start());
      it = lag_readers_.emplace(group, std::move(c)).first;
    }
    auto r = it->second->lag();
    if (!r.is_ok()) lag_readers_.erase(it);
    return r;
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
    MutexLock l(mu_);
    done_[seq - base_] = true;
    bool advanced = false;
    while (!done_.empty() && done_.front()) {
      done_.pop_front();
      ++base_;
      advanced = true;
    }
    if (advanced) cv_.notify_all();
  }

  void produce_run(int32_t partition, const std::vector<Pending*>& run,
                   std::vector<rd_kafka_message_t>& msgs, bool on_poller) {
    msgs.assign(run.size(), rd_kafka_message_t{});
    for (size_t i = 0; i < run.size(); ++i) {
      Pending* p = run[i];
      msgs[i].partition = partition;
      msgs[i].payload = p->value.empty() ? nullptr : p->value.data();
      msgs[i].len = p->value.size();
      msgs[i].key = p->key.data();
      msgs[i].key_len = p->key.size();
      msgs[i]._private = p;
    }
    // Flags 0: librdkafka neither copies nor frees the bytes; the Pending
    // owns them until its delivery report.
    (void)rd_kafka_produce_batch(rkt_, partition, 0, msgs.data(), static_cast<int>(msgs.size()));
    for (size_t i = 0; i < run.size(); ++i) {
      if (!msgs[i].err) continue;
      if (msgs[i].err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        produce_one(partition, run[i], on_poller);
      } else {
        finish(run[i], append_error(msgs[i].err, -1), Partition(-1), Offset(-1));
      }
    }
  }

  // One record through producev(), waiting up to append_block for room in
  // a full queue (not on the poller thread, which is what makes room).
  void produce_one(int32_t partition, Pending* p, bool on_poller) {
    const auto block_until = Clock::now() + plan_.append_block;
    rd_kafka_resp_err_t err;
    for (;;) {
      err = rd_kafka_producev(
          rk_, RD_KAFKA_V_RKT(rkt_), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_KEY(p->key.data(), p->key.size()),
          RD_KAFKA_V_VALUE(p->value.empty() ? nullptr : p->value.data(), p->value.size()),
          RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || on_poller || Clock::now() >= block_until) break;
      MutexLock l(mu_);
      cv_.wait_for(mu_, std::chrono::milliseconds(5));
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
  Mutex mu_;
  CondVar cv_;
  // done_[i]: callback of record base_ + i has run
  std::deque<bool> done_ TANDEM_GUARDED_BY(mu_);
  uint64_t base_ TANDEM_GUARDED_BY(mu_) = 0;
  Mutex lag_mu_;
  // group_lag()
  std::map<std::string, std::unique_ptr<KafkaConsumer>> lag_readers_ TANDEM_GUARDED_BY(lag_mu_);
};

}  // namespace

Result<std::unique_ptr<Log>> open_kafka_log(const KafkaLogOptions& opts) {
  TANDEM_ASSIGN_OR_RETURN(KafkaPlan p, detail::plan(opts));
  const Redactor redact(opts.properties);
  TANDEM_RETURN_IF_ERROR(detail::validate_with_librdkafka(p, redact));
  auto log = std::make_unique<KafkaLog>(opts, std::move(p));
  TANDEM_RETURN_IF_ERROR(log->start());
  TANDEM_RETURN_IF_ERROR(log->ensure_topic());
  return std::unique_ptr<Log>(std::move(log));
}

}  // namespace tandem::log
