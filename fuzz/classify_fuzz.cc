// libFuzzer target: classify() on arbitrary request-targets. The first byte
// picks the method. Invariants: no crash; a document write always names an
// index; an id, when present, is never empty; a read never carries an op.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proxy/proxy.h"

using namespace tandem::proxy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static constexpr std::string_view kMethods[] = {"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"};
  if (size == 0) return 0;
  std::string_view method = kMethods[data[0] % 6];
  std::string_view target(reinterpret_cast<const char*>(data + 1), size - 1);
  Classification c = classify(method, target);
  if (c.endpoint.empty()) abort();
  if (c.cls == RequestClass::kDocWrite) {
    if (!c.index || c.index->get().empty() || c.op == DocOp::kNone) abort();
    if (c.id && c.id->get().empty()) abort();
  }
  if (c.cls == RequestClass::kRead && c.op != DocOp::kNone) abort();
  (void)class_name(c.cls);
  return 0;
}
