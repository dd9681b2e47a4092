// The migration plan: YAML in, a validated Plan out. Unknown keys are
// errors naming the key, so a typo never silently becomes a default.
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "core/duration.h"
#include "migrate/migrate.h"

namespace tandem::migrate {
namespace {

class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  Status bad(const std::string& key, const std::string& why) const {
    return error(Code::kInvalidArgument, origin_ + ": " + key + ": " + why);
  }
  Status keys(const YAML::Node& n, const std::string& prefix, const std::set<std::string>& ok) {
    if (!n) return Status::ok();
    if (!n.IsMap()) return bad(prefix.empty() ? "(top level)" : prefix, "expected a mapping");
    for (const auto& kv : n) {
      const auto k = kv.first.as<std::string>();
      if (!ok.count(k)) return bad(prefix.empty() ? k : prefix + "." + k, "unknown key");
    }
    return Status::ok();
  }
  Status str(const YAML::Node& n, const std::string& key, std::string* out) {
    if (!n) return Status::ok();
    if (!n.IsScalar()) return bad(key, "expected a scalar");
    *out = n.as<std::string>();
    return Status::ok();
  }
  Status boolean(const YAML::Node& n, const std::string& key, bool* out) {
    if (!n) return Status::ok();
    std::string v;
    TANDEM_RETURN_IF_ERROR(str(n, key, &v));
    if (v == "true" || v == "yes") {
      *out = true;
    } else if (v == "false" || v == "no") {
      *out = false;
    } else {
      return bad(key, "'" + v + "' is not true/false");
    }
    return Status::ok();
  }
  Status integer(const YAML::Node& n, const std::string& key, int64_t* out) {
    if (!n) return Status::ok();
    std::string v;
    TANDEM_RETURN_IF_ERROR(str(n, key, &v));
    try {
      size_t used = 0;
      const long long x = std::stoll(v, &used);
      if (used != v.size() || x < 0) throw std::invalid_argument(v);
      *out = x;
    } catch (const std::exception&) {
      return bad(key, "'" + v + "' is not a non-negative integer");
    }
    return Status::ok();
  }
  template <class D>
  Status duration(const YAML::Node& n, const std::string& key, D* out) {
    if (!n) return Status::ok();
    std::string v;
    TANDEM_RETURN_IF_ERROR(str(n, key, &v));
    auto d = parse_duration(v);
    if (!d.is_ok()) return bad(key, d.status().message());
    *out = std::chrono::duration_cast<D>(d.value());
    return Status::ok();
  }
  Status list(const YAML::Node& n, const std::string& key, std::vector<std::string>* out) {
    if (!n) return Status::ok();
    if (!n.IsSequence()) return bad(key, "expected a list");
    for (size_t i = 0; i < n.size(); ++i) {
      std::string v;
      TANDEM_RETURN_IF_ERROR(str(n[i], key + "[" + std::to_string(i) + "]", &v));
      out->push_back(v);
    }
    return Status::ok();
  }
  Status cluster(const YAML::Node& n, const std::string& key, ClusterSpec* c) {
    if (!n) return bad(key, "required");
    TANDEM_RETURN_IF_ERROR(keys(n, key, {"url", "env_prefix", "tls"}));
    TANDEM_RETURN_IF_ERROR(str(n["url"], key + ".url", &c->url));
    if (c->url.empty()) return bad(key + ".url", "required");
    if (c->url.rfind("http://", 0) != 0 && c->url.rfind("https://", 0) != 0) {
      return bad(key + ".url", "must start with http:// or https://");
    }
    const auto host = c->url.substr(c->url.find("//") + 2);
    if (host.substr(0, host.find('/')).find('@') != std::string::npos) {
      // The URL would carry a secret into logs and argv.
      return bad(key + ".url", "credentials in the URL are refused; use " + key +
                                   ".env_prefix (<PREFIX>_USERNAME/_PASSWORD)");
    }
    TANDEM_RETURN_IF_ERROR(str(n["env_prefix"], key + ".env_prefix", &c->env_prefix));
    const YAML::Node t = n["tls"];
    TANDEM_RETURN_IF_ERROR(keys(t, key + ".tls", {"ca_file", "cert_file", "key_file", "insecure"}));
    if (t) {
      TANDEM_RETURN_IF_ERROR(str(t["ca_file"], key + ".tls.ca_file", &c->tls.ca_file));
      TANDEM_RETURN_IF_ERROR(str(t["cert_file"], key + ".tls.cert_file", &c->tls.cert_file));
      TANDEM_RETURN_IF_ERROR(str(t["key_file"], key + ".tls.key_file", &c->tls.key_file));
      TANDEM_RETURN_IF_ERROR(boolean(t["insecure"], key + ".tls.insecure", &c->tls.insecure));
    }
    return Status::ok();
  }

 private:
  std::string origin_;
};

}  // namespace

Result<Plan> parse_plan(std::string_view yaml, std::string_view origin) {
  Reader r{std::string(origin)};
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return error(Code::kInvalidArgument, std::string(origin) + ": not YAML: " + e.what());
  }
  if (!root || !root.IsMap()) return r.bad("(top level)", "expected a mapping");
  Plan p;
  try {
    TANDEM_RETURN_IF_ERROR(r.keys(root, "",
                                  {"name", "blue", "green", "upgrade", "log", "indices", "proxies",
                                   "state", "gates", "flip", "backfill"}));
    TANDEM_RETURN_IF_ERROR(r.str(root["name"], "name", &p.name));
    if (p.name.empty()) return r.bad("name", "required");
    for (char c : p.name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
        return r.bad("name", "'" + p.name + "' may only hold [A-Za-z0-9._-]");
      }
    }
    p.blue.env_prefix = "TANDEM_BLUE";
    p.green.env_prefix = "TANDEM_GREEN";
    TANDEM_RETURN_IF_ERROR(r.cluster(root["blue"], "blue", &p.blue));
    TANDEM_RETURN_IF_ERROR(r.cluster(root["green"], "green", &p.green));
    TANDEM_RETURN_IF_ERROR(r.boolean(root["upgrade"], "upgrade", &p.upgrade));

    const YAML::Node lg = root["log"];
    if (!lg) return r.bad("log", "required");
    TANDEM_RETURN_IF_ERROR(
        r.keys(lg, "log", {"backend", "dir", "kafka", "group", "reverse_group"}));
    std::string backend = "file";
    TANDEM_RETURN_IF_ERROR(r.str(lg["backend"], "log.backend", &backend));
    if (backend == "file") {
      p.log.backend = LogSpec::Backend::kFile;
      TANDEM_RETURN_IF_ERROR(r.str(lg["dir"], "log.dir", &p.log.dir));
      if (p.log.dir.empty()) return r.bad("log.dir", "required for the file log");
      if (lg["kafka"]) return r.bad("log.kafka", "given but log.backend is file");
    } else if (backend == "kafka") {
      p.log.backend = LogSpec::Backend::kKafka;
      const YAML::Node k = lg["kafka"];
      if (!k) return r.bad("log.kafka", "required for log.backend kafka");
      TANDEM_RETURN_IF_ERROR(r.keys(k, "log.kafka", {"brokers", "topic", "config_file"}));
      TANDEM_RETURN_IF_ERROR(r.str(k["brokers"], "log.kafka.brokers", &p.log.brokers));
      if (p.log.brokers.empty()) return r.bad("log.kafka.brokers", "required");
      TANDEM_RETURN_IF_ERROR(r.str(k["topic"], "log.kafka.topic", &p.log.topic));
      TANDEM_RETURN_IF_ERROR(r.str(k["config_file"], "log.kafka.config_file", &p.log.kafka_config));
      if (lg["dir"]) return r.bad("log.dir", "given but log.backend is kafka");
    } else {
      return r.bad("log.backend", "'" + backend + "' is not file or kafka");
    }
    TANDEM_RETURN_IF_ERROR(r.str(lg["group"], "log.group", &p.log.group));
    TANDEM_RETURN_IF_ERROR(r.str(lg["reverse_group"], "log.reverse_group", &p.log.reverse_group));
    if (p.log.group == p.log.reverse_group) {
      return r.bad("log.reverse_group", "must differ from log.group");
    }

    TANDEM_RETURN_IF_ERROR(r.list(root["indices"], "indices", &p.indices));
    if (p.indices.empty()) return r.bad("indices", "required: at least one index pattern");

    const YAML::Node px = root["proxies"];
    if (!px) return r.bad("proxies", "required");
    TANDEM_RETURN_IF_ERROR(r.keys(px, "proxies", {"admin", "token_file"}));
    TANDEM_RETURN_IF_ERROR(r.list(px["admin"], "proxies.admin", &p.proxies.admin));
    if (p.proxies.admin.empty()) return r.bad("proxies.admin", "required: at least one proxy");
    std::set<std::string> seen;
    for (const auto& a : p.proxies.admin) {
      if (a.rfind("http://", 0) != 0 && a.rfind("https://", 0) != 0) {
        return r.bad("proxies.admin", "'" + a + "' must start with http:// or https://");
      }
      if (!seen.insert(a).second) return r.bad("proxies.admin", "'" + a + "' listed twice");
    }
    TANDEM_RETURN_IF_ERROR(r.str(px["token_file"], "proxies.token_file", &p.proxies.token_file));

    TANDEM_RETURN_IF_ERROR(r.str(root["state"], "state", &p.state));
    if (p.state.empty()) return r.bad("state", "required (the state store's path)");

    const YAML::Node g = root["gates"];
    TANDEM_RETURN_IF_ERROR(
        r.keys(g, "gates", {"max_lag", "verify_max_age", "min_health", "min_query_match"}));
    if (g) {
      TANDEM_RETURN_IF_ERROR(r.integer(g["max_lag"], "gates.max_lag", &p.gates.max_lag));
      TANDEM_RETURN_IF_ERROR(
          r.duration(g["verify_max_age"], "gates.verify_max_age", &p.gates.verify_max_age));
      TANDEM_RETURN_IF_ERROR(r.str(g["min_health"], "gates.min_health", &p.gates.min_health));
      if (p.gates.min_health != "green" && p.gates.min_health != "yellow") {
        return r.bad("gates.min_health", "'" + p.gates.min_health + "' is not green or yellow");
      }
      if (const YAML::Node q = g["min_query_match"]) {
        std::string v;
        TANDEM_RETURN_IF_ERROR(r.str(q, "gates.min_query_match", &v));
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (v.empty() || end != v.c_str() + v.size() || !(x >= 0 && x <= 100)) {
          return r.bad("gates.min_query_match", "'" + v + "' is not a percentage from 0 to 100");
        }
        p.gates.min_query_match = x;
      }
    }
    const YAML::Node f = root["flip"];
    TANDEM_RETURN_IF_ERROR(
        r.keys(f, "flip", {"drain", "hold", "catchup", "predrain", "predrain_lag"}));
    if (f) {
      TANDEM_RETURN_IF_ERROR(r.duration(f["drain"], "flip.drain", &p.flip.drain));
      TANDEM_RETURN_IF_ERROR(r.duration(f["hold"], "flip.hold", &p.flip.hold));
      TANDEM_RETURN_IF_ERROR(r.duration(f["catchup"], "flip.catchup", &p.flip.catchup));
      TANDEM_RETURN_IF_ERROR(r.duration(f["predrain"], "flip.predrain", &p.flip.predrain));
      TANDEM_RETURN_IF_ERROR(
          r.integer(f["predrain_lag"], "flip.predrain_lag", &p.flip.predrain_lag));
    }
    const YAML::Node bf = root["backfill"];
    TANDEM_RETURN_IF_ERROR(r.keys(bf, "backfill", {"slices", "batch_size", "throttle"}));
    if (bf) {
      TANDEM_RETURN_IF_ERROR(r.integer(bf["slices"], "backfill.slices", &p.backfill.slices));
      TANDEM_RETURN_IF_ERROR(
          r.integer(bf["batch_size"], "backfill.batch_size", &p.backfill.batch_size));
      TANDEM_RETURN_IF_ERROR(r.integer(bf["throttle"], "backfill.throttle", &p.backfill.throttle));
      if (p.backfill.slices < 1 || p.backfill.slices > 64) {
        return r.bad("backfill.slices", "must be from 1 to 64");
      }
      if (p.backfill.batch_size < 1 || p.backfill.batch_size > 10000) {
        return r.bad("backfill.batch_size", "must be from 1 to 10000");
      }
    }
  } catch (const YAML::Exception& e) {
    return error(Code::kInvalidArgument, std::string(origin) + ": " + e.what());
  }
  return p;
}

Result<Plan> load_plan(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(Code::kNotFound, "migration plan " + path + ": cannot read the file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_plan(ss.str(), path);
}

}  // namespace tandem::migrate
