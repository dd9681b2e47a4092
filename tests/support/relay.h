// A recording TCP relay for end-to-end tests: the proxy under test talks to
// the relay, the relay to the real cluster. It copies bytes both ways
// unchanged and keeps them, per connection, so a test can see exactly what
// the primary answered, including answers the proxy never passed on
// because it was killed mid-request. When the proxy side closes, the relay
// keeps reading the cluster's side, so an answer in flight is still
// recorded.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace tandem::testing {

// One request and the cluster's answer to it, in wire order on one
// connection. `status` is 0 when the answer never (completely) arrived.
struct Exchange {
  std::string method;
  std::string target;
  std::string opaque_id;  // X-Opaque-Id request header, "" if absent
  std::string request_body;
  int status = 0;
  std::string response_body;  // de-chunked
};

class RecordingRelay {
 public:
  // Listens on 127.0.0.1:listen_port (0: a free port) and forwards every
  // connection to host:port. Aborts the test process on setup failure
  // (test-only code). Destroying the relay and making a new one on the same
  // port simulates a cluster that goes away and comes back.
  RecordingRelay(const std::string& host, uint16_t port, uint16_t listen_port = 0);
  ~RecordingRelay();  // closes everything and joins its threads
  RecordingRelay(const RecordingRelay&) = delete;
  RecordingRelay& operator=(const RecordingRelay&) = delete;

  uint16_t port() const;
  // Every complete request seen so far, with its answer if complete.
  std::vector<Exchange> exchanges() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A cluster endpoint that can go away and come back: a RecordingRelay to
// host:port whose outage() closes every connection and refuses new ones for
// a while, then relays again on the same port.
class FlakyEndpoint {
 public:
  FlakyEndpoint(const std::string& host, uint16_t port);
  ~FlakyEndpoint();  // waits for a running outage
  std::string url() const;
  // Starts an outage of `down`, `after` from now, on its own thread.
  void outage(std::chrono::milliseconds after, std::chrono::milliseconds down);

 private:
  std::string host_;
  uint16_t target_port_;
  uint16_t port_;
  std::unique_ptr<RecordingRelay> relay_;
  std::thread outage_;
};

}  // namespace tandem::testing
