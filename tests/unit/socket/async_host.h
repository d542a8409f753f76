// tests/unit/socket/async_host.h — one ustack host on a virtual clock, driven by the test on
// one thread (the socket layer's built-in ManualEnv): client and server share the host and
// talk through ustack's loopback path (its own address 10.0.0.1), as rt_host.h does in real
// time. run_until() is the driver: Stack::poll at the current instant until idle (which runs
// the socket layer's async completions), then a jump to the next deadline.
#pragma once

#include <netinet/in.h>

#include <functional>

#include "unit/rt/fake_device.h"
#include "ustack/socket/socket.h"
#include "ustack/stack/stack.h"

namespace ustack::socket::test {

inline constexpr uint32_t kLoopAddr = 0x0a000001;  // 10.0.0.1

inline sockaddr_in addr_in(uint32_t addr, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(addr);
  a.sin_port = htons(port);
  return a;
}

struct ManualHost {
  ManualHost() {
    auto& i = stack.add_interface(dev);
    (void)stack.add_address(Instant::zero(), i.ifindex(),
                            link::IfAddr{wire::Ipv4Addr{kLoopAddr}, 24});
  }
  SocketLayer& api() { return stack.sockets(); }

  // Polls until `done()` holds (checked between polls) or `limit` of virtual time passes.
  bool run_until(const std::function<bool()>& done, Duration limit = Duration::s(60)) {
    const Instant end = now + limit;
    for (int spins = 0; !done();) {
      if (stack.poll(now) || stack.next_deadline() <= now) {
        // Work at this instant; a livelock is a test failure, not a hang.
        if (++spins > 1'000'000) return false;
        continue;
      }
      spins = 0;
      const Instant next = stack.next_deadline();
      if (next > end) {
        now = end;
        return done();
      }
      now = next;
    }
    return true;
  }
  // Runs until idle at most `d` of virtual time from now.
  void run_for(Duration d) {
    run_until([] { return false; }, d);
  }

  rt::test::FakeDevice dev;
  stack::Stack stack;
  Instant now = Instant::zero();
};

}  // namespace ustack::socket::test
