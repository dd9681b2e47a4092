// HTTP client: the transport under every Elasticsearch call tandem makes.
//
// Guarantees
//  - HTTP/1.1 with a keep-alive connection pool per client (one host each).
//  - Connect and request deadlines on every call.
//  - Retries only where they are safe: a request marked idempotent, or any
//    request that failed before a byte of it was written (connect refused,
//    a pooled connection found dead on first write).
//  - TLS through OpenSSL: CA file, client cert/key, verification on by
//    default; `insecure` must be asked for explicitly.
//  - Credentials come from the environment or files, never from argv, and
//    never appear in errors or logs (Secret refuses to print itself).
//  - Every error names the method, the URL (without credentials) and, where
//    there is one, the HTTP status.
//
// Thread-safety: Client::send may be called from many threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

// Declared here, defined by Asio and OpenSSL: the TLS functions below hand
// them to a caller that includes those libraries itself, and this header
// stays free of them.
namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl
struct ssl_st;  // OpenSSL's SSL

namespace tandem::http {

// A secret string: holds a password / API key but never prints it.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string v) : v_(std::move(v)) {}
  const std::string& reveal() const { return v_; }
  bool empty() const { return v_.empty(); }

 private:
  std::string v_;
};

struct Credentials {
  enum class Kind { kNone, kBasic, kApiKey, kBearer };
  Kind kind = Kind::kNone;
  std::string username;  // basic only
  Secret secret;         // password, API key (base64 "id:key" form) or token

  // Reads <PREFIX>_USERNAME + <PREFIX>_PASSWORD (or <PREFIX>_PASSWORD_FILE),
  // else <PREFIX>_API_KEY (or <PREFIX>_API_KEY_FILE), else
  // <PREFIX>_BEARER_TOKEN (or <PREFIX>_BEARER_TOKEN_FILE), else nothing.
  // Files lose trailing line breaks. Setting two kinds, or both a variable
  // and its _FILE twin, is an error.
  // Example prefix: "TANDEM_BLUE". Errors name the variable or file, never
  // the value.
  static Result<Credentials> from_env(const std::string& prefix);

  // The Authorization header value, or empty for kNone.
  std::string authorization_header() const;
};

struct TlsOptions {
  std::string ca_file;    // empty: system default trust store
  std::string cert_file;  // client certificate (optional)
  std::string key_file;   // client key (optional)
  bool insecure = false;  // skip verification; must be explicit
  // Reads <PREFIX>_CA_FILE, <PREFIX>_CERT_FILE, <PREFIX>_KEY_FILE,
  // <PREFIX>_INSECURE=1.
  static TlsOptions from_env(const std::string& prefix);
};

// The environment prefix for a cluster label: "TANDEM_BLUE" for "blue"
// (letters upper-cased, anything but [A-Za-z0-9] becomes '_').
std::string env_prefix_for(std::string_view label);

// A parsed base URL: scheme://host:port[/base/path]
struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;
  uint16_t port = 0;
  std::string base_path;  // "" or "/prefix" (no trailing slash)

  // Errors: empty, unsupported scheme ("ftp://..." -> invalid_argument
  // naming the scheme and what is accepted), bad port, userinfo in the URL
  // (credentials are refused in URLs so they never reach argv).
  static Result<Url> parse(std::string_view text);
  std::string to_string() const;  // never contains credentials
};

struct ClientOptions {
  Url url;
  TlsOptions tls;
  Credentials credentials;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{60000};
  int max_retries = 2;  // for safe retries only
  size_t max_idle_connections = 32;
  // Names the environment variables in advice, e.g. "TANDEM_BLUE" makes a
  // TLS verification error suggest TANDEM_BLUE_CA_FILE. Optional.
  std::string env_prefix;
  // Larger response bodies fail with resource_exhausted.
  uint64_t max_response_bytes = uint64_t{1} << 30;
};

struct Header {
  std::string name;
  std::string value;
};

struct Request {
  std::string method = "GET";  // GET, PUT, POST, DELETE, HEAD
  std::string target = "/";    // path + query, appended to Url::base_path
  std::string body;
  std::string content_type;  // default application/json when body set
  std::vector<Header> headers;
  bool idempotent = true;                            // may be retried after bytes were sent
  std::optional<std::chrono::milliseconds> timeout;  // overrides request_timeout
};

struct Response {
  int status = 0;
  std::string body;
  std::vector<Header> headers;
  // First value of a header (case-insensitive name), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
};

class Client {
 public:
  virtual ~Client() = default;
  // Sends one request. Any HTTP status is a successful Result: callers
  // decide what a 404 or a 409 means. A non-ok Status means no usable HTTP
  // answer: unavailable (refused/reset), timeout, tls, protocol.
  virtual Result<Response> send(const Request& req) = 0;
  virtual const ClientOptions& options() const = 0;
};

// Creates a pooled client. Fails on bad TLS files (naming the file).
Result<std::unique_ptr<Client>> make_client(ClientOptions options);

// ---- TLS for HTTP stacks outside Client (tls.cc) ------------------------------
// The proxy runs its own Beast connections on its own event loops, but its
// TLS follows Client's rules: TLS 1.2 or later, verification of the chain
// and of the name or IP unless `insecure`, no terminal prompt for a key's
// pass phrase, errors naming the file and the variable to set.

// A client context from TlsOptions (CA file or the system store, client
// certificate and key). Read-only afterwards: connections on many threads
// may share it. `env_prefix` (may be empty) names the variables in advice.
Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls_context(
    const TlsOptions& tls, const std::string& env_prefix);

// Per-connection setup before the client handshake: SNI for host names,
// and the name or IP the certificate must match (unless insecure).
Status prepare_client_tls_session(ssl_st* ssl, const std::string& host, bool insecure);

// A server (listener) context: the PEM certificate chain and private key.
// Errors (kTls) name the file.
Result<std::shared_ptr<boost::asio::ssl::context>> make_server_tls_context(
    const std::string& cert_file, const std::string& key_file);

// ---- request targets (target.cc) --------------------------------------------
struct SplitTarget {
  std::string_view path;   // still percent-encoded, starts with '/' when well-formed
  std::string_view query;  // without the '?', "" when absent
};
SplitTarget split_target(std::string_view target);

// Percent-decodes a path segment. Bytes come out exactly as encoded, even
// when they are not UTF-8 (document ids are arbitrary bytes). '+' stays '+'
// in paths. A malformed escape ("%zz", a trailing "%") is kept literally:
// classification must not fail on it, and ES answers such requests itself.
std::string percent_decode(std::string_view s, bool plus_is_space = false);

// Decoded path segments. Empty segments ("//", a trailing '/') are dropped:
// that errs towards recognising a write rather than missing one.
std::vector<std::string> split_path(std::string_view path);

// The decoded value of the first `name` parameter ("" when present without
// a value), or nullopt when absent. Query values decode '+' as a space,
// like ES's RestUtils.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

// Appends "name=value" (value taken as already encoded) to the target.
std::string add_query_param(std::string_view target, std::string_view name, std::string_view value);

// Percent-encodes: everything but RFC 3986 unreserved characters and the
// bytes in `keep` becomes %XX.
std::string percent_encode(std::string_view raw, std::string_view keep = {});
// One path segment (document ids, index names): percent_encode, and a
// segment of only dots ("." or "..") is encoded whole so nothing on the way
// can treat it as a dot-segment.
std::string encode_path_segment(std::string_view raw, std::string_view keep = {});

// ---- content codings (content_coding.cc) -----------------------------------
// Bodies as Elasticsearch and its clients send them: a client that accepts
// gzip gets gzip answers from ES (http.compression is on by default without
// TLS), and Logstash/Beats may send gzip request bodies.
enum class ContentCoding { kIdentity, kGzip, kDeflate, kUnknown };
// From a Content-Encoding value; absent or "identity" is kIdentity, a coding
// zlib cannot read (br, zstd, stacked codings) is kUnknown.
ContentCoding parse_content_coding(std::string_view header_value);
// kProtocol for a corrupt or truncated body (or bytes after its end),
// kResourceExhausted when it decodes to more than max_bytes (a
// decompression bomb), kInvalidArgument for kUnknown.
Result<std::string> decode_content(ContentCoding coding, std::string_view body, uint64_t max_bytes);
// The same coding back (gzip: RFC 1952; deflate: the zlib format RFC 9110
// names), at a fast compression level.
Result<std::string> encode_content(ContentCoding coding, std::string_view body);

}  // namespace tandem::http
