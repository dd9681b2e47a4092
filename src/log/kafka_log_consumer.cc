// The Kafka change log's consumer: one librdkafka high-level consumer per
// Consumer object (kafka_log.cc says how positions and rebalances work).
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "log/kafka_log_client.h"

namespace tandem::log::detail {

KafkaConsumer::~KafkaConsumer() {
  if (!rk_) return;
  rd_kafka_consumer_close(rk_);
  rd_kafka_destroy(rk_);
}

Status KafkaConsumer::start() {
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
    return error(Code::kInvalidArgument, where() + ": cannot create consumer: " + redact_(errstr));
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
      MutexLock l(mu_);
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

Result<std::vector<Record>> KafkaConsumer::poll(size_t max_records,
                                                std::chrono::milliseconds timeout) {
  if (!pending_error_.is_ok()) {
    Status s = std::move(pending_error_);
    pending_error_ = Status::ok();
    return s;
  }
  if (fatal()) {
    return error(Code::kFailedPrecondition, where() + ": fatal consumer error: " + fatal_reason());
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
              ": " + redact_(rd_kafka_message_errstr(m)) + " (" + rd_kafka_err2name(m->err) + ")");
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

Status KafkaConsumer::commit(const std::map<Partition, Offset>& next_offsets) {
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

Result<std::map<Partition, Offset>> KafkaConsumer::committed() {
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

Status KafkaConsumer::seek(Partition p, Offset next) {
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
    bool deferred = false;
    {
      MutexLock l(mu_);
      if (!assigned_.count(p.get())) {
        // Applied when the group assigns the partition to this consumer.
        pending_seeks_[p.get()] = next.get();
        deferred = true;
      }
    }
    if (deferred) {
      rd_kafka_topic_partition_list_destroy(list);
      return Status::ok();
    }
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

Result<std::vector<PartitionLag>> KafkaConsumer::lag() {
  TANDEM_ASSIGN_OR_RETURN(auto done, committed());
  std::vector<PartitionLag> out;
  for (int32_t p : all_partitions(partitions_)) {
    int64_t lo = 0, hi = 0;
    TANDEM_RETURN_IF_ERROR(
        query_watermarks(rk_, opts_.topic, p, Clock::now() + opts_.admin_timeout, &lo, &hi, [this] {
          return last_error_suffix();
        }).context(where() + " partition " + std::to_string(p) + ": reading the end offset"));
    auto it = done.find(Partition(p));
    out.push_back(
        PartitionLag{Partition(p), it == done.end() ? Offset(-1) : it->second, Offset(hi)});
  }
  return out;
}

std::string KafkaConsumer::where() const {
  return "kafka consumer group " + group_ + " on topic " + opts_.topic + " at " + opts_.brokers;
}

void KafkaConsumer::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                 rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<KafkaConsumer*>(static_cast<ClientBase*>(opaque));
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  rd_kafka_error_t* e = nullptr;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    {
      MutexLock l(self->mu_);
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
      MutexLock l(self->mu_);
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

}  // namespace tandem::log::detail
