// tandem: one binary, one subcommand per component. This folder is the only
// place that wires components together (see docs/architecture.md).
#include <string>

#include <CLI/CLI.hpp>

#include "cli/cli.h"

int main(int argc, char** argv) {
  CLI::App app{"tandem: zero-downtime Elasticsearch upgrades and migrations"};
  app.set_version_flag("--version", std::string("tandem ") + TANDEM_VERSION);
  app.require_subcommand(1);
  // Listed in the order of a migration.
  tandem::cli::register_cluster(app);
  tandem::cli::register_meta(app);
  tandem::cli::register_proxy(app);
  tandem::cli::register_load(app);
  tandem::cli::register_backfill(app);
  tandem::cli::register_verify(app);
  tandem::cli::register_migrate(app);
  tandem::cli::register_dlq(app);
  tandem::cli::register_log(app);
  tandem::cli::register_workload(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // the subcommand already printed its error
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
