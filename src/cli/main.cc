// tandem: one binary, one subcommand per component. This file only wires
// components together (see docs/architecture.md for the layering).
#include <cstdio>

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"tandem: zero-downtime Elasticsearch upgrades and migrations"};
  app.set_version_flag("--version", std::string("tandem ") + TANDEM_VERSION);
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
