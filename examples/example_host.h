// examples/example_host.h — the ustack host the example programs and bench_models run on: one
// Stack driven by rt::Runtime in real time (the stack thread), plus one NIC:
//   - open_tap(): a Linux TAP interface, so Linux clients (socat, nc) reach the host through
//     the kernel (give the kernel's end an address on the same subnet: `ip addr add`);
//   - loopback(): an unplugged NIC (a SimNic on no link) that only carries the address: traffic
//     to that address takes ustack's loopback path, the analogue of 127.0.0.1 in Linux.
// And the shared main() of examples/echo_<model>.cc (run_echo_example).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "examples/echo_servers.h"
#include "ustack/base/result.h"
#include "ustack/buf/pool.h"
#include "ustack/link/interface.h"
#include "ustack/rt/runtime.h"
#include "ustack/socket/socket.h"
#include "ustack/stack/stack.h"

namespace ustack::dev {
class NetDevice;
}

namespace ustack::examples {

class ExampleHost {
 public:
  // Opens TAP `tap` (root or CAP_NET_ADMIN), gives the host `addr`, starts the stack thread.
  static Result<std::unique_ptr<ExampleHost>, std::string> open_tap(const std::string& tap,
                                                                    link::IfAddr addr,
                                                                    stack::StackConfig cfg = {});
  // A host alone in the process (see the header comment); starts the stack thread.
  static std::unique_ptr<ExampleHost> loopback(link::IfAddr addr, stack::StackConfig cfg = {});
  ~ExampleHost();  // stops the stack thread
  ExampleHost(const ExampleHost&) = delete;
  ExampleHost& operator=(const ExampleHost&) = delete;

  socket::SocketLayer& api() { return stack_->sockets(); }
  stack::Stack& stack() { return *stack_; }
  rt::Runtime& runtime() { return *rt_; }
  wire::Ipv4Addr addr() const { return addr_.addr; }

 private:
  ExampleHost() = default;
  Result<void, std::string> init(std::unique_ptr<dev::NetDevice> dev, link::IfAddr addr,
                                 stack::StackConfig cfg);

  // Declaration order is destruction order reversed: the runtime goes first, then the stack
  // (it detaches the device), then the device, then the pool its buffers came from.
  PoolHandle pool_;
  std::unique_ptr<dev::NetDevice> dev_;
  std::unique_ptr<stack::Stack> stack_;
  std::unique_ptr<rt::Runtime> rt_;
  link::IfAddr addr_;
};

// "192.0.2.2/24" (no "/P": /32, as `ip addr add`).
Result<link::IfAddr, std::string> parse_cidr(std::string_view s);

// The command line of every echo example: --tap NAME --addr CIDR --port N [--seconds S].
struct ExampleArgs {
  std::string tap;
  link::IfAddr addr;
  uint16_t port = 7;
  int64_t seconds = 0;  // 0: until SIGINT/SIGTERM
};
Result<ExampleArgs, std::string> parse_example_args(int argc, char** argv);

using ServerFactory =
    std::function<std::unique_ptr<EchoServer<socket::SocketLayer>>(socket::SocketLayer&)>;

// main() of examples/echo_<model>.cc: parse the flags, open the TAP host, start the server,
// print "<prog>: listening on ADDR:PORT" to stderr, serve until SIGINT/SIGTERM (or --seconds),
// stop, print the server's counters and the socket layer's to stdout. Exit 0; 2 on bad
// arguments or a host/server that cannot start.
int run_echo_example(const char* prog, int argc, char** argv, const ServerFactory& make);

}  // namespace ustack::examples
