#include "core/status.h"

#include <string>

namespace tandem {

std::string_view code_name(Code c) {
  switch (c) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kConflict: return "version_conflict";
    case Code::kUnavailable: return "unavailable";
    case Code::kTimeout: return "timeout";
    case Code::kTls: return "tls_error";
    case Code::kUnauthorized: return "unauthorized";
    case Code::kProtocol: return "protocol_error";
    case Code::kIo: return "io_error";
    case Code::kCorruption: return "corruption";
    case Code::kResourceExhausted: return "resource_exhausted";
    case Code::kFailedPrecondition: return "failed_precondition";
    case Code::kInternal: return "internal";
  }
  return "unknown";
}

Status Status::context(std::string_view what) const {
  if (is_ok()) return *this;
  Status s(code_, std::string(what) + ": " + message_);
  s.http_status_ = http_status_;
  return s;
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(code_name(code_)) + ": " + message_;
}

}  // namespace tandem
