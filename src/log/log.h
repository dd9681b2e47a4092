// The change log: one interface, two backends.
//   - Kafka (librdkafka): the backbone at scale; see kafka_log.cc.
//   - File log: the embedded default for one machine; see file_log.cc and
//     docs/file-log-format.md.
//
// Contract (the conformance suite in tests/log checks both backends):
//  - append() is asynchronous; each record's callback runs exactly once,
//    with ok + its (partition, offset) once the record is durable
//    (Kafka: acks=all; file log: fsync'd), or with an error naming the
//    backend, partition and reason.
//  - An append refused with kInvalidArgument is refused for good: the record
//    is larger than the log takes (max_record_bytes()) or otherwise
//    invalid, and appending it again can never succeed. Every other error
//    may clear (broker down, queue full, disk full), so callers retry those.
//  - A record with an explicit partition (AppendRecord::partition >= 0)
//    lands there; one outside [0, partitions()) is refused with
//    kInvalidArgument. Without one, records with the same key land in the
//    same partition (event::partition_for, Kafka's murmur2). Either way,
//    records appended to one partition keep their append order.
//  - flush(deadline) waits until every callback of earlier appends has run,
//    or returns kTimeout. Kafka: if the client hits an authentication or
//    TLS error while records are outstanding, flush returns it at once
//    (kUnauthorized / kTls, naming the broker); those records' callbacks
//    still run later.
//  - A consumer group reads from its committed positions (or the beginning),
//    and records after the last commit are redelivered to the next consumer.
//  - Offsets are dense per partition for the file log and monotonic for
//    Kafka; end_offsets() is the offset the next record will get.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"

namespace tandem::log {

using AppendCallback = std::function<void(const Status&, Partition, Offset)>;

struct AppendRecord {
  std::string key;
  std::string value;
  AppendCallback done;  // may be empty
  // -1: by key. Otherwise the partition to write to: the proxy puts all
  // events of one request in one partition (event::request_partitions) so
  // the request costs one log round trip; the key stays the document's.
  int32_t partition = -1;
};

struct Record {
  Partition partition;
  Offset offset;
  std::string key;
  std::string value;
};

struct PartitionLag {
  Partition partition;
  Offset committed;  // -1 if nothing committed
  Offset end;
  int64_t lag() const { return end.get() - std::max<int64_t>(committed.get(), 0); }
};

class Consumer {
 public:
  virtual ~Consumer() = default;
  // Up to max_records, waiting at most `timeout` for the first one.
  virtual Result<std::vector<Record>> poll(size_t max_records,
                                           std::chrono::milliseconds timeout) = 0;
  // Commits "next offset to read" per partition for this consumer's group.
  virtual Status commit(const std::map<Partition, Offset>& next_offsets) = 0;
  virtual Result<std::map<Partition, Offset>> committed() = 0;
  // Repositions reading (not the committed position).
  virtual Status seek(Partition p, Offset next) = 0;
  virtual Result<std::vector<PartitionLag>> lag() = 0;
};

class Log {
 public:
  virtual ~Log() = default;
  virtual std::string describe() const = 0;  // "kafka topic X at host:port" / "file log at DIR"
  virtual int32_t partitions() const = 0;
  // The largest key + value one record may have. Larger records are refused
  // with kInvalidArgument. Kafka: the producer's message.max.bytes less room
  // for the record and batch headers (the broker's or topic's own limit may
  // be lower; it refuses such a record with the same code). File log: the
  // format's 1 GiB payload limit.
  virtual uint64_t max_record_bytes() const = 0;
  virtual void append(std::vector<AppendRecord> batch) = 0;
  virtual Status flush(std::chrono::milliseconds deadline) = 0;
  // The backfill start mark: next offset per partition.
  virtual Result<std::vector<Offset>> end_offsets() = 0;
  virtual Result<std::vector<Offset>> begin_offsets() = 0;
  virtual Result<std::unique_ptr<Consumer>> consumer(const std::string& group) = 0;
  // A group's committed positions and lag without becoming one of its
  // consumers (a file log allows one consumer per group, so `log stats`
  // must not take the group from a running loader).
  virtual Result<std::vector<PartitionLag>> group_lag(const std::string& group) {
    TANDEM_ASSIGN_OR_RETURN(auto c, consumer(group));
    return c->lag();
  }

  // Frees the storage of partition p's records below `before`, as far as
  // the backend can do that cheaply, and returns how many records it freed.
  // The file log deletes whole sealed segments that hold only such records
  // (oldest first, never the segment being written) and moves
  // begin_offsets() up; records at or above `before` are never touched.
  // Pass a position no reader needs anything below, e.g. a consumer
  // group's committed offset. Default (Kafka: topic retention): frees
  // nothing.
  virtual Result<int64_t> reclaim_before(Partition p, Offset before) {
    (void)p;
    (void)before;
    return int64_t{0};
  }
};

struct FileLogOptions {
  std::string dir;
  // Open as a shared reader: for a process that only consumes (`tandem
  // load`, `tandem log ...`) while a writer (`tandem proxy`) holds the log.
  // Takes no writer lock, never creates, truncates or repairs anything,
  // reads the partition count from the log's meta file (`partitions` and
  // the write options are ignored) and fails every append. The log must
  // exist. See "Shared readers" in docs/file-log-format.md.
  bool shared_reader = false;
  int32_t partitions = 8;
  uint64_t segment_bytes = 128ull << 20;
  // Group-commit window: how long the writer keeps a batch open for more
  // appends before writing it. 0: write as soon as the writer is free;
  // records appended while an fdatasync runs still share the next one, so
  // batching under load does not need a window, and an idle log answers
  // without waiting for one.
  std::chrono::milliseconds fsync_interval{0};
  uint64_t retention_bytes = 0;           // per partition; 0 = unlimited
  std::chrono::seconds retention_age{0};  // 0 = unlimited
};
// Refuses a directory another process holds (flock), names the path on
// every error, truncates a torn tail on open. With shared_reader: see above.
Result<std::unique_ptr<Log>> open_file_log(const FileLogOptions& opts);
// open_file_log with shared_reader = true.
Result<std::unique_ptr<Log>> open_file_log_reader(const std::string& dir);

struct KafkaLogOptions {
  std::string brokers;  // bootstrap.servers
  std::string topic;
  int32_t partitions = 8;
  int16_t replication = 1;
  // Passed through verbatim to librdkafka (security.protocol, sasl.*,
  // ssl.*, ...). Values are never logged. A wrong password or CA fails
  // open_kafka_log within about a second (kUnauthorized / kTls), not after
  // admin_timeout; appends after an authentication error fail at once.
  // tests/log/kafka_security_it.cc runs this against real listeners.
  std::map<std::string, std::string> properties;
  std::chrono::milliseconds admin_timeout{15000};
};
Result<std::unique_ptr<Log>> open_kafka_log(const KafkaLogOptions& opts);

// Whether a Kafka client property's value is a secret: the one rule every
// config path follows. The proxy's YAML refuses such values inline (only
// "env:VAR" / "file:PATH"), and every error and log line that could echo a
// property's value redacts them. `name` may carry the producer./consumer.
// prefixes of KafkaLogOptions::properties. Known secret-valued properties
// are listed (kafka_secret_properties()); for any other name, one that
// looks like a secret (password, secret, token, jaas, credential, api key,
// private key) counts as one, so a property librdkafka adds later errs on
// the safe side.
bool is_secret_kafka_property(std::string_view name);
// The known secret-valued properties of librdkafka (and the Java client
// names users copy over), for tests and docs.
const std::vector<std::string_view>& kafka_secret_properties();

}  // namespace tandem::log
