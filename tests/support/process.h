// Child processes for end-to-end tests that drive the real `tandem` binary:
// spawn with output appended to a file, bounded waits, log tails for
// failure messages, and free loopback ports.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tandem::testing {

// The built binary: TANDEM_BIN, else <repo>/build/tandem.
std::string tandem_bin();

struct SpawnOptions {
  // Extra environment entries (NAME=value) on top of the parent's.
  std::vector<std::pair<std::string, std::string>> env;
  // When > 0, RLIMIT_FSIZE for the child (writes past it fail with EFBIG;
  // SIGXFSZ is ignored so the write returns an error instead of killing).
  uint64_t max_file_size = 0;
};

// fork+exec args[0] with stdout and stderr appended to log_path.
pid_t spawn(const std::vector<std::string>& args, const std::string& log_path,
            const SpawnOptions& opts = {});

// Waits for pid up to `limit`; the exit code, 128+signal, or -1 after
// killing it on timeout.
int wait_for(pid_t pid, std::chrono::milliseconds limit);

// SIGTERM, then SIGKILL if it has not exited within `grace`; the exit code
// as wait_for returns it.
int stop(pid_t pid, std::chrono::milliseconds grace);

// The last `max` bytes of a file ("" if unreadable).
std::string file_tail(const std::string& path, size_t max = 3000);

// A port that was free on 127.0.0.1 a moment ago.
uint16_t free_port();

// Runs a shell command (sh -c), returns its exit status.
int run_shell(const std::string& command);

}  // namespace tandem::testing
