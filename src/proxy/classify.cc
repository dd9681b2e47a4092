// Request classification: the proxy's view of es::parse_rest_path, the one
// parser of Elasticsearch REST paths (src/es/rest_path.cc holds the table).
#include "es/es.h"
#include "proxy/proxy.h"

namespace tandem::proxy {
namespace {

RequestClass class_of(es::RestKind k) {
  switch (k) {
    case es::RestKind::kRead:
      return RequestClass::kRead;
    case es::RestKind::kDocWrite:
      return RequestClass::kDocWrite;
    case es::RestKind::kBulk:
      return RequestClass::kBulk;
    case es::RestKind::kMetaWrite:
      return RequestClass::kMetaWrite;
    case es::RestKind::kMultiDocWrite:
      return RequestClass::kMultiDocWrite;
  }
  return RequestClass::kRead;
}

DocOp op_of(es::RestDocOp op) {
  switch (op) {
    case es::RestDocOp::kNone:
      return DocOp::kNone;
    case es::RestDocOp::kIndex:
      return DocOp::kIndex;
    case es::RestDocOp::kCreate:
      return DocOp::kCreate;
    case es::RestDocOp::kUpdate:
      return DocOp::kUpdate;
    case es::RestDocOp::kDelete:
      return DocOp::kDelete;
  }
  return DocOp::kNone;
}

}  // namespace

std::string_view class_name(RequestClass c) {
  switch (c) {
    case RequestClass::kRead:
      return es::rest_kind_name(es::RestKind::kRead);
    case RequestClass::kDocWrite:
      return es::rest_kind_name(es::RestKind::kDocWrite);
    case RequestClass::kBulk:
      return es::rest_kind_name(es::RestKind::kBulk);
    case RequestClass::kMetaWrite:
      return es::rest_kind_name(es::RestKind::kMetaWrite);
    case RequestClass::kMultiDocWrite:
      return es::rest_kind_name(es::RestKind::kMultiDocWrite);
  }
  return "unknown";
}

Classification classify(std::string_view method, std::string_view target) {
  es::RestPath p = es::parse_rest_path(method, target);
  Classification out;
  out.cls = class_of(p.kind);
  out.op = op_of(p.op);
  out.index = std::move(p.index);
  out.id = std::move(p.id);
  out.typed = p.typed;
  out.endpoint = std::move(p.endpoint);
  out.name = std::move(p.name);
  return out;
}

}  // namespace tandem::proxy
