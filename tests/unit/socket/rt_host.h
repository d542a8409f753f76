// tests/unit/socket/rt_host.h — one ustack host driven by rt::Runtime in real time, for socket
// tests with application threads. Client and server share the host: traffic to its own
// address takes ustack's loopback path (ip's local backlog), the analogue of Linux sockets on
// 127.0.0.1. The host's only device is a FakeDevice (nothing leaves the process).
#pragma once

#include <netinet/in.h>

#include <memory>

#include "unit/rt/fake_device.h"
#include "ustack/rt/runtime.h"
#include "ustack/socket/socket.h"
#include "ustack/stack/stack.h"

namespace ustack::socket::test {

inline constexpr uint32_t kHostAddr = 0x0a000001;  // 10.0.0.1

inline sockaddr_in sin(uint32_t addr, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(addr);
  a.sin_port = htons(port);
  return a;
}

struct RtHost {
  explicit RtHost(stack::StackConfig cfg = {}) : stack(std::move(cfg)) {
    auto& i = stack.add_interface(dev);
    (void)stack.add_address(Instant::zero(), i.ifindex(),
                            link::IfAddr{wire::Ipv4Addr{kHostAddr}, 24});
    rt = std::make_unique<rt::Runtime>(stack);
    rt->start();
  }
  ~RtHost() { rt->stop(); }
  SocketLayer& api() { return stack.sockets(); }

  rt::test::FakeDevice dev;
  stack::Stack stack;
  std::unique_ptr<rt::Runtime> rt;
};

}  // namespace ustack::socket::test
