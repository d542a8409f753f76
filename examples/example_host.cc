// examples/example_host.cc — ExampleHost (a Stack on rt::Runtime over a TAP or alone) and the
// echo examples' shared main().
#include "examples/example_host.h"

#include <signal.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "ustack/dev/sim_nic.h"
#include "ustack/dev/tap.h"

namespace ustack::examples {

Result<void, std::string> ExampleHost::init(std::unique_ptr<dev::NetDevice> dev, link::IfAddr addr,
                                            stack::StackConfig cfg) {
  dev_ = std::move(dev);
  stack_ = std::make_unique<stack::Stack>(std::move(cfg));
  link::Interface& ifc = stack_->add_interface(*dev_);
  if (auto r = stack_->add_address(Instant::zero(), ifc.ifindex(), addr); !r) {
    return Err{std::string(r.error())};
  }
  addr_ = addr;
  rt_ = std::make_unique<rt::Runtime>(*stack_);
  rt_->start();
  return {};
}

Result<std::unique_ptr<ExampleHost>, std::string> ExampleHost::open_tap(const std::string& tap,
                                                                        link::IfAddr addr,
                                                                        stack::StackConfig cfg) {
  std::unique_ptr<ExampleHost> h(new ExampleHost());
  h->pool_ = BufferPool::create();
  dev::DeviceConfig dc;
  dc.name = tap;
  // A locally administered MAC (first octet 0x02) derived from the address: stable across runs.
  dc.mac = wire::MacAddr{
      {0x02, 0x00, static_cast<uint8_t>(addr.addr.v >> 24), static_cast<uint8_t>(addr.addr.v >> 16),
       static_cast<uint8_t>(addr.addr.v >> 8), static_cast<uint8_t>(addr.addr.v)}};
  auto d = dev::TapDevice::open(dc, *h->pool_, tap);
  if (!d) return Err{d.error().to_string()};
  if (auto r = h->init(std::move(*d), addr, std::move(cfg)); !r) return Err{r.error()};
  return h;
}

std::unique_ptr<ExampleHost> ExampleHost::loopback(link::IfAddr addr, stack::StackConfig cfg) {
  std::unique_ptr<ExampleHost> h(new ExampleHost());
  h->pool_ = BufferPool::create();
  dev::DeviceConfig dc;
  dc.name = "dummy0";
  dc.mac = wire::MacAddr{{0x02, 0, 0, 0, 0, 1}};
  auto r = h->init(std::make_unique<dev::SimNic>(dc, *h->pool_), addr, std::move(cfg));
  USTACK_ASSERT(r.ok(), "ExampleHost::loopback: cannot add the address");
  return h;
}

ExampleHost::~ExampleHost() {
  if (rt_) rt_->stop();
}

Result<link::IfAddr, std::string> parse_cidr(std::string_view s) {
  const size_t slash = s.find('/');
  auto a = wire::Ipv4Addr::parse(s.substr(0, slash));
  if (!a) return Err{"bad address \"" + std::string(s) + "\""};
  link::IfAddr ia{*a, 32};
  if (slash != std::string_view::npos) {
    const std::string p(s.substr(slash + 1));
    char* end = nullptr;
    const long len = std::strtol(p.c_str(), &end, 10);
    if (p.empty() || *end != '\0' || len < 0 || len > 32) {
      return Err{"bad prefix length \"" + p + "\""};
    }
    ia.prefix_len = static_cast<int>(len);
  }
  return ia;
}

Result<ExampleArgs, std::string> parse_example_args(int argc, char** argv) {
  ExampleArgs a;
  bool have_addr = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) return Err{"missing value after " + std::string(flag)};
    const std::string val = argv[++i];
    char* end = nullptr;
    if (flag == "--tap") {
      a.tap = val;
    } else if (flag == "--addr") {
      auto c = parse_cidr(val);
      if (!c) return Err{"--addr: " + c.error()};
      a.addr = *c;
      have_addr = true;
    } else if (flag == "--port") {
      const long p = std::strtol(val.c_str(), &end, 10);
      if (val.empty() || *end != '\0' || p < 1 || p > 65535) return Err{"--port: bad port " + val};
      a.port = static_cast<uint16_t>(p);
    } else if (flag == "--seconds") {
      const long long s = std::strtoll(val.c_str(), &end, 10);
      if (val.empty() || *end != '\0' || s < 0) return Err{"--seconds: bad value " + val};
      a.seconds = s;
    } else {
      return Err{"unknown option " + std::string(flag)};
    }
  }
  if (a.tap.empty() || !have_addr) return Err{std::string("--tap and --addr are required")};
  return a;
}

int run_echo_example(const char* prog, int argc, char** argv, const ServerFactory& make) {
  auto args = parse_example_args(argc, argv);
  if (!args) {
    std::fprintf(stderr, "%s: %s\nusage: %s --tap NAME --addr CIDR [--port N] [--seconds S]\n",
                 prog, args.error().c_str(), prog);
    return 2;
  }
  // Every thread started from here on (the stack thread, the server's) inherits this mask:
  // SIGINT/SIGTERM are collected below, and model 4's signals never hit a thread that does
  // not expect them.
  sigset_t stop_set;
  sigemptyset(&stop_set);
  sigaddset(&stop_set, SIGINT);
  sigaddset(&stop_set, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &stop_set, nullptr);
  SignalEcho<socket::SocketLayer>::block_signals();

  auto host = ExampleHost::open_tap(args->tap, args->addr);
  if (!host) {
    std::fprintf(stderr, "%s: %s\n", prog, host.error().c_str());
    return 2;
  }
  socket::SocketLayer& api = (*host)->api();
  std::unique_ptr<EchoServer<socket::SocketLayer>> server = make(api);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(args->addr.addr.v);
  sa.sin_port = htons(args->port);
  if (int r = server->start(sa); r != 0) {
    std::fprintf(stderr, "%s: cannot start the %s server: %s\n", prog,
                 std::string(model_name(server->model())).c_str(), std::strerror(-r));
    return 2;
  }
  std::fprintf(stderr, "%s: listening on %s:%u (%s model, TAP %s)\n", prog,
               args->addr.addr.to_string().c_str(), server->port(),
               std::string(model_name(server->model())).c_str(), args->tap.c_str());
  std::fflush(stderr);

  timespec limit{static_cast<time_t>(args->seconds), 0};
  const int sig = ::sigtimedwait(&stop_set, nullptr, args->seconds > 0 ? &limit : nullptr);
  server->stop();
  const EchoStats& st = server->stats();
  std::printf("%s: accepted %llu closed %llu eof %llu reset %llu error %llu bytes %llu\n", prog,
              static_cast<unsigned long long>(st.accepted.load()),
              static_cast<unsigned long long>(st.closed.load()),
              static_cast<unsigned long long>(st.eofs.load()),
              static_cast<unsigned long long>(st.resets.load()),
              static_cast<unsigned long long>(st.errors.load()),
              static_cast<unsigned long long>(st.bytes.load()));
  {
    socket::LockedCall lk(api.env());  // the counters are the stack thread's
    std::printf("%s\n", api.format_stats().c_str());
  }
  std::fprintf(stderr, "%s: stopped by %s\n", prog, sig > 0 ? strsignal(sig) : "--seconds");
  return 0;
}

}  // namespace ustack::examples
