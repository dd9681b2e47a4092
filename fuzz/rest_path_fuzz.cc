// libFuzzer target: es::parse_rest_path, the one parser of ES REST paths,
// and the proxy's classify() over it, on arbitrary request-targets. The
// first byte picks the method. Invariants: no crash; a document write
// always names an op and an index that is not an underscore name (but
// `_all`); an id, when present, is never empty; a read never carries an
// op; a named object is never empty; classify() says what the parser says.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "es/es.h"
#include "proxy/proxy.h"

using namespace tandem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static constexpr std::string_view kMethods[] = {"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"};
  if (size == 0) return 0;
  std::string_view method = kMethods[data[0] % 6];
  std::string_view target(reinterpret_cast<const char*>(data + 1), size - 1);
  es::RestPath p = es::parse_rest_path(method, target);
  if (p.endpoint.empty()) abort();
  if (p.kind == es::RestKind::kDocWrite) {
    if (!p.index || p.index->get().empty() || p.op == es::RestDocOp::kNone) abort();
    if (p.index->get()[0] == '_' && p.index->get() != "_all") abort();
    if (p.id && p.id->get().empty()) abort();
  }
  if (p.kind == es::RestKind::kRead && p.op != es::RestDocOp::kNone) abort();
  if ((p.name && p.name->empty()) || (p.type && p.type->empty())) abort();
  (void)es::rest_kind_name(p.kind);

  proxy::Classification c = proxy::classify(method, target);
  if (proxy::class_name(c.cls) != es::rest_kind_name(p.kind)) abort();
  if (c.endpoint != p.endpoint || c.index != p.index || c.id != p.id || c.typed != p.typed) abort();
  if ((c.op == proxy::DocOp::kNone) != (p.op == es::RestDocOp::kNone)) abort();
  return 0;
}
