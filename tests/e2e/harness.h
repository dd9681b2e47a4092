// Harness for end-to-end tests of the `tandem proxy` binary: the real
// process in front of real blue (ES 7.17), with Kafka or the file log.
//
//   client --> tandem proxy (child process) --> RecordingRelay --> blue
//
// The relay records what blue really answered, so "every write blue
// acknowledged" is ground truth even when the proxy was killed before it
// could pass the answer on.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "event/event.h"
#include "http/http.h"
#include "log/log.h"
#include "support/relay.h"

namespace tandem::e2e {

// One write blue acknowledged, as capture must log it.
struct Ack {
  std::string index;
  std::string id;
  int64_t seq_no = -1;
  bool is_delete = false;
  bool auto_id = false;  // the request carried no id for this item
  auto key() const { return std::make_tuple(index, id, seq_no, is_delete); }
  bool operator<(const Ack& o) const { return key() < o.key(); }
};

// Every write blue acknowledged in these exchanges, by the rules of
// docs/proxy-capture.md section 3 (2xx created/updated/deleted, delete
// not_found with a seq_no; noops and failed items are not writes).
std::vector<Ack> acknowledged_writes(const std::vector<testing::Exchange>& xs);
// Meta writes blue answered 2xx.
size_t acknowledged_meta_writes(const std::vector<testing::Exchange>& xs);

struct LoggedEvents {
  std::multiset<std::tuple<std::string, std::string, int64_t, bool>> data;  // index/delete
  std::set<std::pair<std::string, std::string>> reconciles;                 // (index, id)
  size_t meta = 0;
  std::vector<event::ChangeEvent> all;
};

// Reads a log from the beginning to its end offsets (bounded in time).
LoggedEvents read_log(log::Log& log);

// A running `tandem proxy`.
struct ProxyProcess {
  pid_t pid = -1;
  uint16_t port = 0;
  uint16_t admin_port = 0;
  std::string output;  // its stdout+stderr file
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

struct ProxySpec {
  std::string primary_url;
  std::string data_dir;
  std::string log_dir;        // file log when set
  std::string kafka_brokers;  // Kafka when set
  std::string topic;
  std::string config_yaml;  // extra config file content ("" = none)
  uint16_t port = 0;        // 0 = a free one
  uint64_t max_file_size = 0;
};

// Starts the binary and waits (bounded) until its admin API answers.
// Fails the current test, naming the output tail, if it does not come up.
ProxyProcess start_proxy(const ProxySpec& spec);

// GET /status of the admin API as JSON (null JSON when unreachable).
std::string admin_status(const ProxyProcess& p);

// A plain client for the proxy (no retries of non-idempotent requests).
std::unique_ptr<http::Client> client_for(const std::string& url);

// Sends a request tagged X-Opaque-Id: <tag>.
Result<http::Response> send_tagged(http::Client& c, const std::string& tag,
                                   const std::string& method, const std::string& target,
                                   const std::string& body = "",
                                   const std::string& content_type = "application/json");

// "" when the client's answer is what blue returned: byte-identical, or for
// updates whose `get` the proxy injected, identical once the injected
// members are removed. Otherwise a description of the difference.
std::string compare_answers(const testing::Exchange& blue, int client_status,
                            const std::string& client_body);

// Host and port of an http://host:port URL.
std::pair<std::string, uint16_t> host_port(const std::string& url);

}  // namespace tandem::e2e
