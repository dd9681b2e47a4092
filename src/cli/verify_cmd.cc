// `tandem verify --quick`: per-document parity of blue and green.
//
// Exit codes: 0 parity (every difference explained by a dead letter),
// 5 unexplained differences, otherwise the error codes of fail().
#include <fmt/format.h>

#include <charconv>
#include <memory>
#include <string>

#include "cli/cli.h"
#include "es/es.h"
#include "state/state.h"
#include "verify/verify.h"

namespace tandem::cli {
namespace {

constexpr int kExitDifferences = 5;

struct VerifyFlags {
  bool quick = false;
  std::string blue, green;
  std::string blue_env = "TANDEM_BLUE", green_env = "TANDEM_GREEN";
  int timeout_ms = 60000;
  std::string index = "*";
  std::string state;
  int64_t epoch = -1;  // -1: from the state store ("epoch" key), else 0
  bool json = false;
  int batch = 1000;
  size_t max_ids = 2'000'000;
  size_t recheck_limit = 10'000;
};

Result<std::unique_ptr<es::Client>> connect_cluster(const std::string& label,
                                                    const std::string& url, const std::string& env,
                                                    int timeout_ms) {
  ClusterFlags f;
  f.url = url;
  f.env_prefix = env;
  f.timeout_ms = timeout_ms;
  TANDEM_ASSIGN_OR_RETURN(auto opts, f.client_options());
  return es::connect(label, opts);
}

Result<Epoch> epoch_from(state::Store& store) {
  TANDEM_ASSIGN_OR_RETURN(auto v, store.get("epoch"));
  if (!v) return Epoch(0);
  uint32_t e = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), e);
  if (ec != std::errc() || p != v->data() + v->size()) {
    return Status(Code::kCorruption, "state store key 'epoch' is not a number: " + *v);
  }
  return Epoch(e);
}

int run(const VerifyFlags& f) {
  if (!f.quick) {
    return fail(
        Status(Code::kInvalidArgument, "only --quick verification is implemented; pass --quick"));
  }
  auto blue = connect_cluster("blue", f.blue, f.blue_env, f.timeout_ms);
  if (!blue.is_ok()) return fail(blue.status());
  auto green = connect_cluster("green", f.green, f.green_env, f.timeout_ms);
  if (!green.is_ok()) return fail(green.status());

  verify::Options o;
  o.index_pattern = f.index;
  o.batch_size = f.batch;
  o.max_ids_in_memory = f.max_ids;
  o.recheck_limit = f.recheck_limit;
  if (f.epoch >= 0) {
    if (f.epoch > int64_t{0xFFFF}) {
      return fail(Status(Code::kInvalidArgument, "--epoch must be at most 65535"));
    }
    o.epoch = Epoch(static_cast<uint32_t>(f.epoch));
  }
  if (!f.state.empty()) {
    auto store = state::open_store(f.state);
    if (!store.is_ok()) return fail(store.status());
    auto keys = verify::dead_letter_keys(**store);
    if (!keys.is_ok()) return fail(keys.status());
    o.dead_letters = std::move(keys).value();
    if (f.epoch < 0) {
      auto e = epoch_from(**store);
      if (!e.is_ok()) return fail(e.status());
      o.epoch = *e;
    }
  }
  auto rep = verify::quick(**blue, **green, o);
  if (!rep.is_ok()) return fail(rep.status());
  if (f.json) {
    fmt::print("{}\n", verify::to_json(*rep).dump());
  } else {
    fmt::print("{}", verify::render_table(*rep));
  }
  return rep->ok() ? 0 : kExitDifferences;
}

}  // namespace

void register_verify(CLI::App& app) {
  auto* cmd = app.add_subcommand("verify", "Prove parity between blue and green");
  auto f = std::make_shared<VerifyFlags>();
  cmd->add_flag("--quick", f->quick, "Counts plus a complete (id, version) comparison");
  cmd->add_option("--blue", f->blue, "Primary cluster URL")->required();
  cmd->add_option("--green", f->green, "Secondary cluster URL")->required();
  cmd->add_option("--blue-auth-env", f->blue_env, "Env prefix of blue's credentials/TLS files")
      ->capture_default_str();
  cmd->add_option("--green-auth-env", f->green_env, "Env prefix of green's credentials/TLS files")
      ->capture_default_str();
  cmd->add_option("--timeout-ms", f->timeout_ms, "Request timeout")->capture_default_str();
  cmd->add_option("--index", f->index, "Index pattern")->capture_default_str();
  cmd->add_option("--state", f->state, "State store (dead letters explain differences; epoch)");
  cmd->add_option("--epoch", f->epoch, "Epoch of the versions on green (default: state, else 0)");
  cmd->add_flag("--json", f->json, "Print the report as JSON");
  cmd->add_option("--batch", f->batch, "Scan page size")->capture_default_str();
  cmd->add_option("--max-ids", f->max_ids, "Ids held in memory per pass (more: hash buckets)")
      ->capture_default_str();
  cmd->add_option("--recheck-limit", f->recheck_limit, "Differences re-checked by GET per index")
      ->capture_default_str();
  cmd->callback([f] {
    int rc = run(*f);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tandem::cli
