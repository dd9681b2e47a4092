// connect(label, options): builds the transport, then detects the cluster.
// Kept apart from client.cc so that code using a custom transport does not
// pull in the pooled HTTP client.
#include "es/es.h"
#include "es/internal.h"

namespace tandem::es {

Result<std::unique_ptr<Client>> connect(std::string label, http::ClientOptions opts) {
  std::string where = "cluster '" + label + "' at " + detail::url_string(opts.url);
  auto http = http::make_client(std::move(opts));
  if (!http.is_ok()) return http.status().context(where);
  return connect(std::move(label), std::move(http).value());
}

}  // namespace tandem::es
