#include "proxy/config.h"

#include "core/duration.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace tandem::proxy {
namespace {

Status bad(const std::string& key, const std::string& why) {
  return error(Code::kInvalidArgument, key + ": " + why);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Result<uint64_t> parse_uint(std::string_view digits) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size() || digits.empty()) {
    return error(Code::kInvalidArgument, "'" + std::string(digits) + "' is not a number");
  }
  return v;
}

// Splits "100mb" into (100, "mb").
std::pair<std::string_view, std::string> split_unit(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  return {text.substr(0, i), lower(text.substr(i))};
}

// Reads a file holding one secret; trailing line breaks are dropped.
Result<std::string> read_secret_file(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(Code::kIo, what + ": cannot read file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string v = ss.str();
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
  if (v.empty()) return error(Code::kInvalidArgument, what + ": file '" + path + "' is empty");
  return v;
}

// The YAML reader: every access names the dotted key; unknown keys are
// errors so a typo does not silently fall back to a default.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  Status keys(const YAML::Node& n, const std::string& prefix, std::set<std::string> allowed) {
    if (!n) return Status::ok();
    if (!n.IsMap()) return bad(where(prefix), "expected a mapping");
    for (const auto& kv : n) {
      const auto k = kv.first.as<std::string>();
      if (!allowed.count(k)) return bad(where(join(prefix, k)), "unknown key");
    }
    return Status::ok();
  }

  Result<std::optional<std::string>> str(const YAML::Node& n, const std::string& key) {
    if (!n) return std::optional<std::string>();
    if (!n.IsScalar()) return bad(where(key), "expected a scalar");
    return std::optional<std::string>(n.as<std::string>());
  }

  Status str_into(const YAML::Node& n, const std::string& key, std::string* out) {
    TANDEM_ASSIGN_OR_RETURN(auto v, str(n, key));
    if (v) *out = *v;
    return Status::ok();
  }
  Status size_into(const YAML::Node& n, const std::string& key, uint64_t* out) {
    TANDEM_ASSIGN_OR_RETURN(auto v, str(n, key));
    if (!v) return Status::ok();
    auto s = parse_size(*v);
    if (!s.is_ok()) return bad(where(key), s.status().message());
    *out = s.value();
    return Status::ok();
  }
  template <class T>
  Status small_size_into(const YAML::Node& n, const std::string& key, T* out) {
    uint64_t v = *out;
    TANDEM_RETURN_IF_ERROR(size_into(n, key, &v));
    if (v > std::numeric_limits<T>::max()) return bad(where(key), "too large");
    *out = static_cast<T>(v);
    return Status::ok();
  }
  Status duration_into(const YAML::Node& n, const std::string& key,
                       std::chrono::milliseconds* out) {
    TANDEM_ASSIGN_OR_RETURN(auto v, str(n, key));
    if (!v) return Status::ok();
    auto d = parse_duration(*v);
    if (!d.is_ok()) return bad(where(key), d.status().message());
    *out = d.value();
    return Status::ok();
  }
  Status bool_into(const YAML::Node& n, const std::string& key, bool* out) {
    TANDEM_ASSIGN_OR_RETURN(auto v, str(n, key));
    if (!v) return Status::ok();
    const auto l = lower(*v);
    if (l == "true" || l == "yes" || l == "1") {
      *out = true;
    } else if (l == "false" || l == "no" || l == "0") {
      *out = false;
    } else {
      return bad(where(key), "'" + *v + "' is not a boolean");
    }
    return Status::ok();
  }
  template <class T>
  Status int_into(const YAML::Node& n, const std::string& key, T* out, int64_t lo, int64_t hi) {
    TANDEM_ASSIGN_OR_RETURN(auto v, str(n, key));
    if (!v) return Status::ok();
    auto u = parse_uint(*v);
    if (!u.is_ok()) return bad(where(key), u.status().message());
    if (static_cast<int64_t>(u.value()) < lo || static_cast<int64_t>(u.value()) > hi) {
      return bad(where(key),
                 "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    }
    *out = static_cast<T>(u.value());
    return Status::ok();
  }

  std::string where(const std::string& key) const { return source_ + ": " + key; }
  static std::string join(const std::string& a, const std::string& b) {
    return a.empty() ? b : a + "." + b;
  }

 private:
  std::string source_;
};

Status read_tls(Reader& r, const YAML::Node& n, const std::string& key, http::TlsOptions* tls) {
  TANDEM_RETURN_IF_ERROR(r.keys(n, key, {"ca_file", "cert_file", "key_file", "insecure"}));
  if (!n) return Status::ok();
  TANDEM_RETURN_IF_ERROR(r.str_into(n["ca_file"], key + ".ca_file", &tls->ca_file));
  TANDEM_RETURN_IF_ERROR(r.str_into(n["cert_file"], key + ".cert_file", &tls->cert_file));
  TANDEM_RETURN_IF_ERROR(r.str_into(n["key_file"], key + ".key_file", &tls->key_file));
  return r.bool_into(n["insecure"], key + ".insecure", &tls->insecure);
}

Status read_endpoint(Reader& r, const YAML::Node& n, const std::string& key, EndpointConfig* ep) {
  TANDEM_RETURN_IF_ERROR(
      r.keys(n, key, {"name", "url", "env_prefix", "tls", "username", "password", "api_key"}));
  if (!n) return Status::ok();
  for (const char* secret : {"username", "password", "api_key"}) {
    if (n[secret]) {
      return bad(r.where(key + "." + secret),
                 "credentials are not accepted in the config file; set " +
                     (ep->env_prefix.empty() ? std::string("<env_prefix>") : ep->env_prefix) +
                     "_USERNAME/_PASSWORD(_FILE) or _API_KEY(_FILE) in the environment");
    }
  }
  TANDEM_RETURN_IF_ERROR(r.str_into(n["name"], key + ".name", &ep->name));
  TANDEM_RETURN_IF_ERROR(r.str_into(n["url"], key + ".url", &ep->url));
  TANDEM_RETURN_IF_ERROR(r.str_into(n["env_prefix"], key + ".env_prefix", &ep->env_prefix));
  return read_tls(r, n["tls"], key + ".tls", &ep->tls);
}

Result<std::string> resolve_secret_ref(const std::string& key, const std::string& value,
                                       const EnvFn& env) {
  if (value.rfind("env:", 0) == 0) {
    auto v = env(value.substr(4));
    if (!v || v->empty())
      return bad(key, "environment variable " + value.substr(4) + " is not set");
    return *v;
  }
  if (value.rfind("file:", 0) == 0) return read_secret_file(key, value.substr(5));
  return bad(key, "secret values must be written \"env:VAR\" or \"file:PATH\", not inline");
}

Status read_log(Reader& r, const YAML::Node& n, const EnvFn& env, LogConfig* log) {
  TANDEM_RETURN_IF_ERROR(r.keys(n, "log", {"backend", "dir", "partitions", "kafka"}));
  if (!n) return Status::ok();
  TANDEM_ASSIGN_OR_RETURN(auto backend, r.str(n["backend"], "log.backend"));
  if (backend) {
    if (*backend == "file") {
      log->backend = LogConfig::Backend::kFile;
    } else if (*backend == "kafka") {
      log->backend = LogConfig::Backend::kKafka;
    } else {
      return bad(r.where("log.backend"), "'" + *backend + "' is not one of file, kafka");
    }
  }
  TANDEM_RETURN_IF_ERROR(r.str_into(n["dir"], "log.dir", &log->file.dir));
  TANDEM_RETURN_IF_ERROR(
      r.int_into(n["partitions"], "log.partitions", &log->file.partitions, 1, 4096));
  const YAML::Node k = n["kafka"];
  TANDEM_RETURN_IF_ERROR(
      r.keys(k, "log.kafka", {"brokers", "topic", "partitions", "replication", "properties"}));
  if (!k) return Status::ok();
  TANDEM_RETURN_IF_ERROR(r.str_into(k["brokers"], "log.kafka.brokers", &log->kafka.brokers));
  TANDEM_RETURN_IF_ERROR(r.str_into(k["topic"], "log.kafka.topic", &log->kafka.topic));
  TANDEM_RETURN_IF_ERROR(
      r.int_into(k["partitions"], "log.kafka.partitions", &log->kafka.partitions, 1, 100000));
  TANDEM_RETURN_IF_ERROR(
      r.int_into(k["replication"], "log.kafka.replication", &log->kafka.replication, 1, 32));
  const YAML::Node props = k["properties"];
  if (props) {
    if (!props.IsMap()) return bad(r.where("log.kafka.properties"), "expected a mapping");
    for (const auto& kv : props) {
      const auto name = kv.first.as<std::string>();
      const std::string key = "log.kafka.properties." + name;
      if (!kv.second.IsScalar()) return bad(r.where(key), "expected a scalar");
      std::string value = kv.second.as<std::string>();
      if (log::is_secret_kafka_property(name)) {
        TANDEM_ASSIGN_OR_RETURN(value, resolve_secret_ref(r.where(key), value, env));
      }
      log->kafka.properties[name] = std::move(value);
    }
  }
  return Status::ok();
}

// reads: {capture: {...}, shadow: {...}} (docs/proxy.md, "Read capture
// and shadow reads").
Status read_reads(Reader& r, const YAML::Node& n, ProxyConfig* cfg) {
  TANDEM_RETURN_IF_ERROR(r.keys(n, "reads", {"capture", "shadow"}));
  if (!n) return Status::ok();
  auto rate_into = [&r](const YAML::Node& v, const std::string& key, double* out) -> Status {
    TANDEM_ASSIGN_OR_RETURN(auto t, r.str(v, key));
    if (!t) return Status::ok();
    auto x = parse_rate(*t);
    if (!x.is_ok()) return bad(r.where(key), x.status().message());
    *out = x.value();
    return Status::ok();
  };
  const YAML::Node c = n["capture"];
  TANDEM_RETURN_IF_ERROR(
      r.keys(c, "reads.capture", {"rate", "max_per_second", "file", "max_bytes", "loader_group"}));
  if (c) {
    auto& o = cfg->read_capture;
    TANDEM_RETURN_IF_ERROR(rate_into(c["rate"], "reads.capture.rate", &o.rate));
    TANDEM_RETURN_IF_ERROR(r.int_into(c["max_per_second"], "reads.capture.max_per_second",
                                      &o.max_per_second, 1, 100'000));
    TANDEM_RETURN_IF_ERROR(r.str_into(c["file"], "reads.capture.file", &o.file));
    TANDEM_RETURN_IF_ERROR(r.size_into(c["max_bytes"], "reads.capture.max_bytes", &o.max_bytes));
    TANDEM_RETURN_IF_ERROR(
        r.str_into(c["loader_group"], "reads.capture.loader_group", &o.loader_group));
  }
  const YAML::Node sh = n["shadow"];
  TANDEM_RETURN_IF_ERROR(
      r.keys(sh, "reads.shadow",
             {"rate", "max_per_second", "queue", "threads", "connect_timeout", "timeout"}));
  if (sh) {
    auto& o = cfg->shadow;
    TANDEM_RETURN_IF_ERROR(rate_into(sh["rate"], "reads.shadow.rate", &o.rate));
    TANDEM_RETURN_IF_ERROR(r.int_into(sh["max_per_second"], "reads.shadow.max_per_second",
                                      &o.max_per_second, 1, 100'000));
    TANDEM_RETURN_IF_ERROR(
        r.int_into(sh["queue"], "reads.shadow.queue", &o.queue_max, 1, 1'000'000));
    TANDEM_RETURN_IF_ERROR(r.int_into(sh["threads"], "reads.shadow.threads", &o.threads, 1, 64));
    TANDEM_RETURN_IF_ERROR(
        r.duration_into(sh["connect_timeout"], "reads.shadow.connect_timeout", &o.connect_timeout));
    TANDEM_RETURN_IF_ERROR(r.duration_into(sh["timeout"], "reads.shadow.timeout", &o.timeout));
  }
  return Status::ok();
}

Status read_yaml(const YAML::Node& root, Reader& r, const EnvFn& env, ProxyConfig* cfg) {
  if (!root || root.IsNull()) return Status::ok();
  TANDEM_RETURN_IF_ERROR(r.keys(
      root, "",
      {"listen", "workers", "limits", "timeouts", "tls", "primary", "secondary", "epoch", "log",
       "durability", "multi_doc_policy", "admin", "max_held_writes", "state", "reads"}));
  TANDEM_RETURN_IF_ERROR(read_reads(r, root["reads"], cfg));
  TANDEM_RETURN_IF_ERROR(r.str_into(root["state"], "state", &cfg->state_path));
  auto& s = cfg->server;
  TANDEM_ASSIGN_OR_RETURN(auto listen, r.str(root["listen"], "listen"));
  if (listen) {
    Status st = parse_listen(*listen, &s.listen_host, &s.listen_port);
    if (!st.is_ok()) return bad(r.where("listen"), st.message());
  }
  TANDEM_RETURN_IF_ERROR(r.int_into(root["workers"], "workers", &s.workers, 0, 1024));

  const YAML::Node lim = root["limits"];
  TANDEM_RETURN_IF_ERROR(
      r.keys(lim, "limits", {"max_body", "max_initial_line", "max_header", "max_response"}));
  if (lim) {
    TANDEM_RETURN_IF_ERROR(r.size_into(lim["max_body"], "limits.max_body", &s.max_body_bytes));
    TANDEM_RETURN_IF_ERROR(r.small_size_into(lim["max_initial_line"], "limits.max_initial_line",
                                             &s.max_initial_line_bytes));
    TANDEM_RETURN_IF_ERROR(
        r.small_size_into(lim["max_header"], "limits.max_header", &s.max_header_bytes));
    TANDEM_RETURN_IF_ERROR(
        r.size_into(lim["max_response"], "limits.max_response", &s.max_response_bytes));
  }
  const YAML::Node t = root["timeouts"];
  TANDEM_RETURN_IF_ERROR(
      r.keys(t, "timeouts",
             {"client_idle", "client_header", "client_body", "client_write", "upstream_connect",
              "upstream_response", "drain", "switch_drain"}));
  if (t) {
    TANDEM_RETURN_IF_ERROR(
        r.duration_into(t["client_idle"], "timeouts.client_idle", &s.client_idle_timeout));
    TANDEM_RETURN_IF_ERROR(
        r.duration_into(t["client_header"], "timeouts.client_header", &s.client_header_timeout));
    TANDEM_RETURN_IF_ERROR(
        r.duration_into(t["client_body"], "timeouts.client_body", &s.client_body_timeout));
    TANDEM_RETURN_IF_ERROR(
        r.duration_into(t["client_write"], "timeouts.client_write", &s.client_write_timeout));
    TANDEM_RETURN_IF_ERROR(r.duration_into(t["upstream_connect"], "timeouts.upstream_connect",
                                           &s.upstream_connect_timeout));
    TANDEM_RETURN_IF_ERROR(r.duration_into(t["upstream_response"], "timeouts.upstream_response",
                                           &s.upstream_response_timeout));
    TANDEM_RETURN_IF_ERROR(r.duration_into(t["drain"], "timeouts.drain", &s.drain_timeout));
    TANDEM_RETURN_IF_ERROR(
        r.duration_into(t["switch_drain"], "timeouts.switch_drain", &cfg->switch_drain_timeout));
  }
  const YAML::Node tls = root["tls"];
  TANDEM_RETURN_IF_ERROR(r.keys(tls, "tls", {"cert_file", "key_file"}));
  if (tls) {
    TANDEM_RETURN_IF_ERROR(r.str_into(tls["cert_file"], "tls.cert_file", &s.tls.cert_file));
    TANDEM_RETURN_IF_ERROR(r.str_into(tls["key_file"], "tls.key_file", &s.tls.key_file));
  }
  TANDEM_RETURN_IF_ERROR(read_endpoint(r, root["primary"], "primary", &cfg->primary));
  TANDEM_RETURN_IF_ERROR(read_endpoint(r, root["secondary"], "secondary", &cfg->secondary));
  uint32_t epoch = cfg->capture.epoch.get();
  TANDEM_RETURN_IF_ERROR(r.int_into(root["epoch"], "epoch", &epoch, 0, 65535));
  cfg->capture.epoch = Epoch(epoch);
  TANDEM_RETURN_IF_ERROR(read_log(r, root["log"], env, &cfg->log));

  const YAML::Node d = root["durability"];
  TANDEM_RETURN_IF_ERROR(r.keys(d, "durability", {"mode", "deadline", "spill_dir", "intents_dir"}));
  if (d) {
    TANDEM_ASSIGN_OR_RETURN(auto mode, r.str(d["mode"], "durability.mode"));
    if (mode) {
      if (*mode == "sync") {
        cfg->capture.durability = Durability::kSync;
      } else if (*mode == "async") {
        cfg->capture.durability = Durability::kAsync;
      } else {
        return bad(r.where("durability.mode"), "'" + *mode + "' is not one of sync, async");
      }
    }
    TANDEM_RETURN_IF_ERROR(
        r.duration_into(d["deadline"], "durability.deadline", &cfg->capture.log_deadline));
    TANDEM_RETURN_IF_ERROR(
        r.str_into(d["spill_dir"], "durability.spill_dir", &cfg->capture.spill_dir));
    TANDEM_RETURN_IF_ERROR(
        r.str_into(d["intents_dir"], "durability.intents_dir", &cfg->capture.intents_dir));
  }
  TANDEM_ASSIGN_OR_RETURN(auto policy, r.str(root["multi_doc_policy"], "multi_doc_policy"));
  if (policy) {
    if (*policy == "reject") {
      cfg->capture.multi_doc = MultiDocPolicy::kReject;
    } else if (*policy == "allow") {
      cfg->capture.multi_doc = MultiDocPolicy::kAllow;
    } else {
      return bad(r.where("multi_doc_policy"), "'" + *policy + "' is not one of reject, allow");
    }
  }
  TANDEM_RETURN_IF_ERROR(
      r.int_into(root["max_held_writes"], "max_held_writes", &cfg->max_held_writes, 1, 10'000'000));

  const YAML::Node a = root["admin"];
  TANDEM_RETURN_IF_ERROR(r.keys(a, "admin", {"listen", "token_file", "token"}));
  if (a) {
    if (a["token"]) {
      return bad(r.where("admin.token"),
                 "secrets are not accepted in the config file; use TANDEM_ADMIN_TOKEN, "
                 "TANDEM_ADMIN_TOKEN_FILE or admin.token_file");
    }
    TANDEM_ASSIGN_OR_RETURN(auto al, r.str(a["listen"], "admin.listen"));
    if (al) {
      Status st = parse_listen(*al, &cfg->admin.host, &cfg->admin.port);
      if (!st.is_ok()) return bad(r.where("admin.listen"), st.message());
    }
    TANDEM_ASSIGN_OR_RETURN(auto tf, r.str(a["token_file"], "admin.token_file"));
    if (tf) {
      TANDEM_ASSIGN_OR_RETURN(auto tok, read_secret_file(r.where("admin.token_file"), *tf));
      cfg->admin.token = http::Secret(std::move(tok));
    }
  }
  return Status::ok();
}

Status apply_env(const EnvFn& env, ProxyConfig* cfg) {
  auto get = [&env](const char* name) -> std::optional<std::string> {
    auto v = env(name);
    if (v && v->empty()) return std::nullopt;
    return v;
  };
  auto& s = cfg->server;
  if (auto v = get("TANDEM_PROXY_LISTEN")) {
    Status st = parse_listen(*v, &s.listen_host, &s.listen_port);
    if (!st.is_ok()) return bad("TANDEM_PROXY_LISTEN", st.message());
  }
  if (auto v = get("TANDEM_PROXY_WORKERS")) {
    auto n = parse_uint(*v);
    if (!n.is_ok() || n.value() > 1024)
      return bad("TANDEM_PROXY_WORKERS", "'" + *v + "' is not 0..1024");
    s.workers = static_cast<int>(n.value());
  }
  if (auto v = get("TANDEM_PROXY_MAX_BODY")) {
    auto n = parse_size(*v);
    if (!n.is_ok()) return bad("TANDEM_PROXY_MAX_BODY", n.status().message());
    s.max_body_bytes = n.value();
  }
  if (auto v = get("TANDEM_PROXY_PRIMARY_NAME")) cfg->primary.name = *v;
  if (auto v = get("TANDEM_PROXY_PRIMARY_URL")) cfg->primary.url = *v;
  if (auto v = get("TANDEM_PROXY_SECONDARY_NAME")) cfg->secondary.name = *v;
  if (auto v = get("TANDEM_PROXY_SECONDARY_URL")) cfg->secondary.url = *v;
  if (auto v = get("TANDEM_PROXY_EPOCH")) {
    auto n = parse_uint(*v);
    if (!n.is_ok() || n.value() > 65535)
      return bad("TANDEM_PROXY_EPOCH", "'" + *v + "' is not 0..65535");
    cfg->capture.epoch = Epoch(static_cast<uint32_t>(n.value()));
  }
  if (auto v = get("TANDEM_PROXY_LOG_DIR")) {
    cfg->log.backend = LogConfig::Backend::kFile;
    cfg->log.file.dir = *v;
  }
  if (auto v = get("TANDEM_PROXY_KAFKA_BROKERS")) {
    cfg->log.backend = LogConfig::Backend::kKafka;
    cfg->log.kafka.brokers = *v;
  }
  if (auto v = get("TANDEM_PROXY_KAFKA_TOPIC")) cfg->log.kafka.topic = *v;
  if (auto v = get("TANDEM_PROXY_DURABILITY")) {
    if (*v == "sync") {
      cfg->capture.durability = Durability::kSync;
    } else if (*v == "async") {
      cfg->capture.durability = Durability::kAsync;
    } else {
      return bad("TANDEM_PROXY_DURABILITY", "'" + *v + "' is not one of sync, async");
    }
  }
  if (auto v = get("TANDEM_PROXY_STATE")) cfg->state_path = *v;
  if (auto v = get("TANDEM_PROXY_SPILL_DIR")) cfg->capture.spill_dir = *v;
  if (auto v = get("TANDEM_PROXY_INTENTS_DIR")) cfg->capture.intents_dir = *v;
  if (auto v = get("TANDEM_PROXY_ADMIN_LISTEN")) {
    Status st = parse_listen(*v, &cfg->admin.host, &cfg->admin.port);
    if (!st.is_ok()) return bad("TANDEM_PROXY_ADMIN_LISTEN", st.message());
  }
  const auto tok = get("TANDEM_ADMIN_TOKEN");
  const auto tok_file = get("TANDEM_ADMIN_TOKEN_FILE");
  if (tok && tok_file) {
    return bad("TANDEM_ADMIN_TOKEN",
               "set either TANDEM_ADMIN_TOKEN or TANDEM_ADMIN_TOKEN_FILE, not both");
  }
  if (tok) cfg->admin.token = http::Secret(*tok);
  if (tok_file) {
    TANDEM_ASSIGN_OR_RETURN(auto t, read_secret_file("TANDEM_ADMIN_TOKEN_FILE", *tok_file));
    cfg->admin.token = http::Secret(std::move(t));
  }
  return Status::ok();
}

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(host, ec);
  return !ec && a.is_loopback();
}

}  // namespace

EnvFn process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

Result<uint64_t> parse_size(std::string_view text) {
  auto [digits, unit] = split_unit(text);
  auto n = parse_uint(digits);
  if (!n.is_ok())
    return error(Code::kInvalidArgument,
                 "'" + std::string(text) + "' is not a size (e.g. 100mb, 16kb)");
  uint64_t mul = 1;
  if (unit.empty() || unit == "b") {
    mul = 1;
  } else if (unit == "kb" || unit == "k") {
    mul = 1ull << 10;
  } else if (unit == "mb" || unit == "m") {
    mul = 1ull << 20;
  } else if (unit == "gb" || unit == "g") {
    mul = 1ull << 30;
  } else {
    return error(Code::kInvalidArgument,
                 "'" + std::string(text) + "' has an unknown size unit (b, kb, mb, gb)");
  }
  if (n.value() > (UINT64_MAX / mul))
    return error(Code::kInvalidArgument, "'" + std::string(text) + "' is too large");
  return n.value() * mul;
}

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  return tandem::parse_duration(text);  // one home: core/duration.h
}

Status parse_listen(std::string_view text, std::string* host, uint16_t* port) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return error(Code::kInvalidArgument, "'" + std::string(text) + "' is not host:port");
  }
  std::string h(text.substr(0, colon));
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) h = "0.0.0.0";
  auto p = parse_uint(text.substr(colon + 1));
  if (!p.is_ok() || p.value() > 65535) {
    return error(Code::kInvalidArgument, "'" + std::string(text) + "' has no valid port");
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(h, ec);
  if (ec && h != "localhost") {
    return error(Code::kInvalidArgument, "'" + h + "' is not an IP address (or localhost)");
  }
  *host = h == "localhost" ? "127.0.0.1" : h;
  *port = static_cast<uint16_t>(p.value());
  return Status::ok();
}

Status validate(const ProxyConfig& cfg) {
  const auto& s = cfg.server;
  if (s.max_body_bytes == 0) return bad("limits.max_body", "must be > 0");
  if (s.max_initial_line_bytes < 64) return bad("limits.max_initial_line", "must be >= 64 bytes");
  if (s.max_header_bytes < 256) return bad("limits.max_header", "must be >= 256 bytes");
  if (s.tls.cert_file.empty() != s.tls.key_file.empty()) {
    return bad("tls", "cert_file and key_file go together");
  }
  if (cfg.primary.url.empty()) {
    return bad("primary.url", "required (or TANDEM_PROXY_PRIMARY_URL / --primary)");
  }
  for (const auto* ep : {&cfg.primary, &cfg.secondary}) {
    const std::string key = ep == &cfg.primary ? "primary" : "secondary";
    if (ep->name.empty()) return bad(key + ".name", "required");
    if (ep->url.empty()) continue;
    auto u = http::Url::parse(ep->url);
    if (!u.is_ok()) return bad(key + ".url", u.status().message());
  }
  if (cfg.primary.name == cfg.secondary.name) {
    return bad("secondary.name", "must differ from primary.name ('" + cfg.primary.name + "')");
  }
  if (cfg.log.backend == LogConfig::Backend::kFile && cfg.log.file.dir.empty()) {
    return bad("log.dir", "required for the file log (or TANDEM_PROXY_LOG_DIR / --log-dir)");
  }
  if (cfg.log.backend == LogConfig::Backend::kKafka) {
    if (cfg.log.kafka.brokers.empty())
      return bad("log.kafka.brokers", "required for the kafka log");
    if (cfg.log.kafka.topic.empty()) return bad("log.kafka.topic", "required for the kafka log");
  }
  if (cfg.state_path.empty()) {
    return bad("state",
               "required: the SQLite state file for needs-verify marks (or "
               "TANDEM_PROXY_STATE / --state)");
  }
  if (!is_loopback(cfg.admin.host) && cfg.admin.token.empty()) {
    return bad("admin.listen", "binding the admin API to " + cfg.admin.host +
                                   " requires a token (TANDEM_ADMIN_TOKEN, "
                                   "TANDEM_ADMIN_TOKEN_FILE or admin.token_file)");
  }
  if (cfg.admin.port != 0 && cfg.admin.port == s.listen_port) {
    return bad("admin.listen", "must use a different port than listen");
  }
  if (cfg.read_capture.rate > 0 && cfg.read_capture.file.empty() &&
      cfg.log.backend == LogConfig::Backend::kKafka) {
    return bad("reads.capture.file", "required with the kafka log (a file path for the captures)");
  }
  if (cfg.shadow.rate > 0 && cfg.secondary.url.empty()) {
    return bad("reads.shadow.rate", "shadow reads need a secondary (secondary.url)");
  }
  return Status::ok();
}

Result<double> parse_rate(std::string_view text) {
  const std::string t(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || errno != 0 || !(v >= 0) || v > 1) {
    return error(Code::kInvalidArgument,
                 "'" + t + "' is not a sampling rate between 0 and 1 (e.g. 0.01)");
  }
  return v;
}

Result<ProxyConfig> parse_config(std::string_view yaml, std::string_view source, const EnvFn& env) {
  ProxyConfig cfg;
  Reader r{std::string(source)};
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    TANDEM_RETURN_IF_ERROR(read_yaml(root, r, env, &cfg));
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws on syntax errors and on as<T>() of odd nodes.
    return error(Code::kInvalidArgument, std::string(source) + ": " + e.what());
  }
  TANDEM_RETURN_IF_ERROR(apply_env(env, &cfg));
  return cfg;
}

Result<ProxyConfig> load_config(const std::string& path, const EnvFn& env) {
  if (path.empty()) return parse_config("", "(defaults)", env);
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(Code::kIo, "cannot read config file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path, env);
}

}  // namespace tandem::proxy
