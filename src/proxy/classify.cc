// Request classification: the proxy's view of es::parse_rest_path, the one
// parser of Elasticsearch REST paths (src/es/rest_path.cc holds the table).
#include "es/es.h"
#include "proxy/proxy.h"

namespace tandem::proxy {

std::string_view class_name(RequestClass c) {
  return es::rest_kind_name(c);
}

Classification classify(std::string_view method, std::string_view target) {
  es::RestPath p = es::parse_rest_path(method, target);
  Classification out;
  out.cls = p.kind;
  out.op = p.op;
  out.index = std::move(p.index);
  out.id = std::move(p.id);
  out.typed = p.typed;
  out.endpoint = std::move(p.endpoint);
  out.name = std::move(p.name);
  return out;
}

}  // namespace tandem::proxy
