// The `ustack` command line.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "ustack/cli/demo.h"
#include "ustack/cli/host.h"

int main(int argc, char** argv) {
  CLI::App app{"ustack: a userspace TCP/IP stack built the way Linux builds its own"};
  app.require_subcommand(1);

  ustack::cli::DemoOptions demo;
  auto* d = app.add_subcommand(
      "demo", "three simulated hosts and a router: Linux networking layer by layer, on ustack");
  d->add_option("--seed", demo.seed, "seed for every random choice (stacks, fault injection)");
  d->add_option("--burst", demo.burst, "scene 2: datagrams sent back to back")
      ->check(CLI::Range(1, 100000));
  d->add_option("--rx-ring", demo.rx_ring, "scene 2: bob's eth0 RX descriptor ring size")
      ->check(CLI::Range(1, 65536));
  d->add_option("--loss", demo.loss, "scene 3: drop probability on alice's eth0 TX")
      ->check(CLI::Range(0.0, 1.0));
  d->add_option("--corrupt", demo.corrupt, "scene 3: bit-flip probability on alice's eth0 TX")
      ->check(CLI::Range(0.0, 1.0));
  d->add_option("--pcap", demo.pcap_prefix, "write <prefix>-<host>-<ifname>.pcap");
  d->add_flag("--quiet", demo.quiet, "print the scenes' results only, not every event");
  int rc = 0;
  d->callback([&] { rc = ustack::cli::run_demo(demo, stdout); });

  ustack::cli::HostCommand host(app);

  app.add_subcommand("version", "print the version")->callback([] { std::puts("ustack 0.1.0"); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // A usage error: one line, exit status 2 (as most Unix tools).
    std::fprintf(stderr, "ustack: %s (see --help)\n", e.what());
    return 2;
  }
  if (host.selected()) {
    auto cfg = host.config();
    if (!cfg) {
      std::fprintf(stderr, "ustack host: %s\n", cfg.error().c_str());
      return 2;
    }
    return ustack::cli::run_host(*cfg, stdout, stderr);
  }
  return rc;
}
