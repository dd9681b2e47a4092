// libFuzzer target: the change-event codec. Whatever decode() accepts must
// encode and decode back to the same event (the envelope is the contract
// between proxy, log and loader).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "event/event.h"

using namespace tandem::event;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto e = decode(in);
  if (!e.is_ok()) return 0;
  std::string bytes = encode(*e);
  auto again = decode(bytes);
  if (!again.is_ok()) abort();
  if (encode(*again) != bytes) abort();
  (void)partition_key(*e);
  return 0;
}
