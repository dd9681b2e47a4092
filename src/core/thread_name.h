// Names the calling thread (what `top -H`, `ps -L`, /proc/PID/task/*/comm,
// gdb and perf show), so an operator can tell the proxy's I/O threads from
// its intents syncer or its log writers. Linux keeps at most 15 bytes: a
// longer name is cut, never refused. Best effort: a failure changes nothing.
#pragma once

#include <pthread.h>

#include <string>
#include <string_view>

namespace tandem {

inline void name_this_thread(std::string_view name) {
  std::string n(name.substr(0, 15));
  (void)pthread_setname_np(pthread_self(), n.c_str());
}

}  // namespace tandem
