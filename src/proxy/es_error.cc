#include "proxy/es_error.h"

#include <string>

#include "event/event.h"

namespace tandem::proxy {

std::string es_error_body(int status, std::string_view type, std::string_view reason) {
  std::string cause;
  cause += "{\"type\":";
  event::append_json_string(cause, type);
  cause += ",\"reason\":";
  event::append_json_string(cause, reason);
  std::string out;
  out.reserve(2 * cause.size() + 64);
  out += "{\"error\":{\"root_cause\":[";
  out += cause;
  out += "}],";
  out.append(cause, 1, std::string::npos);  // same members, without the leading '{'
  out += "},\"status\":";
  out += std::to_string(status);
  out += '}';
  return out;
}

}  // namespace tandem::proxy
