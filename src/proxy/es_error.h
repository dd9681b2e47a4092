// Elasticsearch-style error documents for replies the proxy makes itself
// (fail-closed 503, multi-doc policy 400, and the server half's
// 413/414/431/502 limits). Clients and their ES libraries parse these like
// any error from the cluster, so they follow ES's shape exactly:
//   {"error":{"root_cause":[{"type":T,"reason":R}],"type":T,"reason":R},"status":N}
#pragma once

#include <string>
#include <string_view>

namespace tandem::proxy {

// `type` and `reason` are JSON-escaped (any bytes are safe to pass; invalid
// UTF-8 becomes U+FFFD). Never put secrets in `reason`: it goes to clients.
std::string es_error_body(int status, std::string_view type, std::string_view reason);

}  // namespace tandem::proxy
