// The `ustack` command line.
#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"ustack: a userspace TCP/IP stack"};
  app.require_subcommand(1);
  app.add_subcommand("version", "print the version")->callback([] { std::puts("ustack 0.1.0"); });
  CLI11_PARSE(app, argc, argv);
  return 0;
}
