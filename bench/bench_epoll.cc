// The cost of one multiplexing wait over N registered sockets of which exactly one is ready
// (issue 5, model 3): epoll keeps a ready list fed by the sockets' wakeup callbacks, so its
// wait is O(ready) and stays flat as N grows; poll() and select() scan every handle, O(N).
//   BM_EpollWait  epoll_wait(timeout 0) on an instance holding all N sockets (level-triggered,
//                 so the one ready socket is reported on every call)
//   BM_Poll       poll(timeout 0) over N PollFds
//   BM_Select     select(timeout 0) over N handles (the read set rebuilt each call, as a
//                 select loop must)
// N = 100, 1000, 10000 UDP sockets on one stack, driven by hand on one thread (the socket
// layer's ManualEnv: no threads, no syscalls), so the numbers are the data structures' cost.
// The ready socket holds one looped-back datagram that nobody reads.
#include <benchmark/benchmark.h>
#include <poll.h>

#include <memory>
#include <vector>

#include "ustack/dev/sim_nic.h"
#include "ustack/socket/socket.h"
#include "ustack/stack/stack.h"

namespace {

using namespace ustack;
using socket::Fd;

constexpr uint32_t kAddr = 0x0a000001;  // 10.0.0.1

sockaddr_in sin(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(kAddr);
  a.sin_port = htons(port);
  return a;
}

// One host with N UDP sockets, the last of which has a datagram queued.
struct Host {
  explicit Host(int n) {
    stack = std::make_unique<stack::Stack>();
    dev::DeviceConfig dc;
    dc.mac = wire::MacAddr{{2, 0, 0, 0, 0, 1}};
    nic = std::make_unique<dev::SimNic>(dc, stack->pool());
    auto& i = stack->add_interface(*nic);
    (void)stack->add_address(now, i.ifindex(), link::IfAddr{wire::Ipv4Addr{kAddr}, 24});
    socket::SocketLayer& api = stack->sockets();
    for (int k = 0; k < n; ++k) fds.push_back(api.socket(AF_INET, SOCK_DGRAM, 0));
    const Fd ready = fds.back();
    (void)api.bind(ready, sin(9000));
    const Fd tx = api.socket(AF_INET, SOCK_DGRAM, 0);
    const auto to = sin(9000);
    (void)api.sendto(tx, "x", 1, 0, &to);
    for (int k = 0; k < 16 && stack->poll(now); ++k) {
    }
    stack->poll(now);
  }
  socket::SocketLayer& api() { return stack->sockets(); }

  Instant now = Instant::zero() + Duration::ms(1);
  std::unique_ptr<dev::SimNic> nic;  // declared first: the stack, which references it, goes first
  std::unique_ptr<stack::Stack> stack;
  std::vector<Fd> fds;
};

void BM_EpollWait(benchmark::State& state) {
  Host h(static_cast<int>(state.range(0)));
  socket::SocketLayer& api = h.api();
  const Fd ep = api.epoll_create1(0);
  for (Fd fd : h.fds) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(fd);
    (void)api.epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  std::vector<epoll_event> evs(64);
  for (auto _ : state) {
    const int n = api.epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 0);
    if (n != 1) state.SkipWithError("expected exactly one ready socket");
    benchmark::DoNotOptimize(evs.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["registered"] = static_cast<double>(state.range(0));
}

void BM_Poll(benchmark::State& state) {
  Host h(static_cast<int>(state.range(0)));
  socket::SocketLayer& api = h.api();
  std::vector<socket::PollFd> fds;
  for (Fd fd : h.fds) fds.push_back(socket::PollFd{fd, POLLIN, 0});
  for (auto _ : state) {
    const int n = api.poll(fds, 0);
    if (n != 1) state.SkipWithError("expected exactly one ready socket");
    benchmark::DoNotOptimize(fds.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["registered"] = static_cast<double>(state.range(0));
}

void BM_Select(benchmark::State& state) {
  Host h(static_cast<int>(state.range(0)));
  socket::SocketLayer& api = h.api();
  socket::FdSet all;
  for (Fd fd : h.fds) all.set(fd);
  for (auto _ : state) {
    socket::FdSet rd = all;  // select overwrites its sets: a loop rebuilds them every call
    const int n = api.select(&rd, nullptr, nullptr, Duration::zero());
    if (n != 1) state.SkipWithError("expected exactly one ready socket");
    benchmark::DoNotOptimize(rd);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["registered"] = static_cast<double>(state.range(0));
}

BENCHMARK(BM_EpollWait)->Arg(100)->Arg(1000)->Arg(10000);
BENCHMARK(BM_Poll)->Arg(100)->Arg(1000)->Arg(10000);
BENCHMARK(BM_Select)->Arg(100)->Arg(1000)->Arg(10000);

}  // namespace
