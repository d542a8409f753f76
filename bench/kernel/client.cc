// bench/kernel/client.cc — bench_kernel's client for bulk, rr and crr (idle is in idle.cc):
//   bulk  one connection, write()s of 64 KiB of the pattern for --seconds or --bytes, then
//         shutdown(SHUT_WR); the server's report gives the bytes it verified and the time from
//         its first payload byte to its last: goodput at the receiver.
//   rr    --conns connections with TCP_NODELAY, each with one --size request outstanding; one
//         epoll thread; latency from the request's write() to the response's last byte.
//   crr   --conns slots, each: non-blocking connect, one write of the request, read the
//         response, close() (the client closes first, so TIME-WAIT stays on the client; whether
//         ports recycle is net.ipv4.tcp_tw_reuse, the driver's business).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "client.h"

namespace bench_kernel {

namespace {
constexpr size_t kBulkChunk = 64 * 1024;
constexpr int kMaxEvents = 256;

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

void set_nodelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A request: its sequence number, then the pattern (the echo must return exactly this).
void fill_request(std::vector<uint8_t>& req, uint64_t seq) {
  std::memcpy(req.data(), pattern_at(seq), req.size());
  std::memcpy(req.data(), &seq, std::min(sizeof seq, req.size()));
}

void add_latency_fields(Json& j, std::vector<int64_t>& lat_ns) {
  j.num("p50_us", percentile(lat_ns, 50) / 1000.0).num("p99_us", percentile(lat_ns, 99) / 1000.0);
}
}  // namespace

int connect_with_retry(const Target& t, size_t port_index) {
  socklen_t len = 0;
  const sockaddr_storage sa = make_addr(t.addr, t.ports.at(port_index), &len);
  const int64_t give_up = monotonic_ns() + 5'000'000'000;
  while (true) {
    const int fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fatal_errno(errno, "socket");
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), len) == 0) return fd;
    const int err = errno;
    ::close(fd);
    if (err != ECONNREFUSED || monotonic_ns() > give_up)
      fatal_errno(err, "connect to %s port %d (is `bench_kernel server` running there?)",
                  t.addr.c_str(), t.ports.at(port_index));
    ::usleep(20'000);
  }
}

void write_all(int fd, const void* data, size_t len, const char* what) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (len > 0) {
    const ssize_t w = ::write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) fatal_errno(errno, "%s: write", what);
      pollfd pfd{.fd = fd, .events = POLLOUT, .revents = 0};
      ::poll(&pfd, 1, 1000);
      continue;
    }
    p += w;
    len -= static_cast<size_t>(w);
  }
}

namespace {
int64_t server_cpu_ns(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/schedstat");
  int64_t ns = 0;
  in >> ns;
  return ns;
}
}  // namespace

void CommonInfo::start(const Options& o) {
  retrans0 = read_snmp_tcp("RetransSegs");
  loss_probes0 = read_netstat_tcpext("TCPLossProbes");
  out_segs0 = read_snmp_tcp("OutSegs");
  in_segs0 = read_snmp_tcp("InSegs");
  cpu0 = process_cpu_ns();
  server_cpu0 = server_cpu_ns(o.server_pid);
}

void CommonInfo::finish(const Options& o, const Target& t, Json& info) const {
  utsname u{};
  ::uname(&u);
  info.str("kernel", u.release)
      .str("mode", o.local ? "local (server process on 127.0.0.1)" : "remote server")
      .str("addr", t.addr)
      .integer("port", t.ports.at(0));
  if (o.mtu > 0) info.integer("mtu_flag", o.mtu);  // not applied: the driver sets the link MTU
  // Counters of this network namespace (both ends with --local or on loopback).
  // Retransmissions include tail loss probes: on loopback, a receiver the scheduler delays by
  // more than 2 x SRTT (tens of microseconds) triggers them without any loss.
  info.integer("tcp_retrans_segs", read_snmp_tcp("RetransSegs") - retrans0)
      .integer("tcp_loss_probes", read_netstat_tcpext("TCPLossProbes") - loss_probes0)
      .integer("tcp_out_segs", read_snmp_tcp("OutSegs") - out_segs0)
      .integer("tcp_in_segs", read_snmp_tcp("InSegs") - in_segs0)
      .num("client_cpu_s", static_cast<double>(process_cpu_ns() - cpu0) / 1e9);
  if (o.server_pid > 0)
    info.num("server_cpu_s", static_cast<double>(server_cpu_ns(o.server_pid) - server_cpu0) / 1e9);
}

Json run_bulk(const Options& o, const Target& t) {
  CommonInfo ci;
  ci.start(o);
  const int fd = connect_with_retry(t, 0);
  write_all(fd, &kModeBulk, 1, "bulk");
  const int64_t start = monotonic_ns();
  const int64_t deadline = start + static_cast<int64_t>(o.seconds * 1e9);
  uint64_t sent = 0;
  while (sent < o.bytes) {
    const size_t len = static_cast<size_t>(std::min<uint64_t>(kBulkChunk, o.bytes - sent));
    const ssize_t w = ::write(fd, pattern_at(sent), len);
    if (w < 0) {
      if (errno == EINTR) continue;
      fatal_errno(errno, "bulk: write after %" PRIu64 " bytes", sent);
    }
    sent += static_cast<uint64_t>(w);
    if (monotonic_ns() >= deadline) break;
  }
  const int64_t send_ns = monotonic_ns() - start;
  tcp_info ti{};
  socklen_t tlen = sizeof ti;
  ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen);
  if (::shutdown(fd, SHUT_WR) != 0) fatal_errno(errno, "bulk: shutdown");

  std::string report;
  char buf[256];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fatal_errno(errno, "bulk: reading the server's report");
    if (n == 0) break;
    report.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  unsigned long long bytes = 0;
  long long ns = 0;
  long long server_cpu_ns = 0;
  long long bad_at = 0;
  if (std::sscanf(report.c_str(), "bytes=%llu ns=%lld cpu_ns=%lld bad_at=%lld", &bytes, &ns,
                  &server_cpu_ns, &bad_at) != 4)
    fatal("bulk: the server sent no report (got '%s'): did it die?", report.c_str());
  if (bad_at >= 0)
    fatal("bulk: the receiver found a wrong byte at stream offset %lld (of %" PRIu64 " sent)",
          bad_at, sent);
  if (bytes != sent)
    fatal("bulk: the receiver got %llu bytes but %" PRIu64 " were sent", bytes, sent);
  if (ns <= 0) fatal("bulk: too few bytes to time (%llu in one read); raise --bytes", bytes);

  Json info;
  info.integer("bytes", static_cast<int64_t>(bytes))
      .num("receiver_s", static_cast<double>(ns) / 1e9)
      .num("sender_gbit_s", static_cast<double>(sent) * 8 / static_cast<double>(send_ns))
      .num("receiver_read_cpu_s", static_cast<double>(server_cpu_ns) / 1e9)
      .integer("snd_mss", ti.tcpi_snd_mss)
      .integer("snd_cwnd", ti.tcpi_snd_cwnd)
      .integer("rtt_us", ti.tcpi_rtt)
      .integer("total_retrans", ti.tcpi_total_retrans)
      .str("verified", "every byte against the pattern, at the receiver");
  ci.finish(o, t, info);
  Json j;
  j.str("workload", "bulk")
      .num("value", static_cast<double>(bytes) * 8 / static_cast<double>(ns))
      .str("unit", "gbit_s")
      .obj("info", info);
  return j;
}

Json run_rr(const Options& o, const Target& t) {
  struct Conn {
    int fd = -1;
    uint64_t seq = 0;
    size_t got = 0;
    int64_t sent_ns = 0;
    std::vector<uint8_t> req;
    std::vector<uint8_t> resp;
  };
  CommonInfo ci;
  ci.start(o);
  const size_t size = static_cast<size_t>(o.size);
  std::vector<Conn> conns(static_cast<size_t>(o.conns));
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) fatal_errno(errno, "rr: epoll_create1");
  for (size_t i = 0; i < conns.size(); ++i) {
    Conn& c = conns[i];
    c.fd = connect_with_retry(t, 0);
    set_nodelay(c.fd);
    set_nonblocking(c.fd);
    c.req.resize(size);
    c.resp.resize(size);
    c.seq = i << 40;  // distinct per connection: a response crossing connections is caught
    epoll_event ev{.events = EPOLLIN, .data = {.u64 = i}};
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) != 0) fatal_errno(errno, "rr: epoll_ctl");
  }
  std::vector<int64_t> lat_ns;
  lat_ns.reserve(1 << 20);
  const int64_t start = monotonic_ns();
  const int64_t deadline = start + static_cast<int64_t>(o.seconds * 1e9);
  std::vector<uint8_t> first(size + 1);
  for (Conn& c : conns) {  // the first request carries the mode byte in the same segment
    fill_request(c.req, c.seq);
    first[0] = static_cast<uint8_t>(kModeEcho);
    std::memcpy(first.data() + 1, c.req.data(), size);
    c.sent_ns = monotonic_ns();
    write_all(c.fd, first.data(), first.size(), "rr");
  }
  size_t active = conns.size();
  int64_t last_done = start;
  epoll_event events[kMaxEvents];
  while (active > 0) {
    const int n = ::epoll_wait(ep, events, kMaxEvents, 1000);
    if (n < 0 && errno != EINTR) fatal_errno(errno, "rr: epoll_wait");
    for (int e = 0; e < n; ++e) {
      Conn& c = conns[events[e].data.u64];
      const ssize_t r = ::read(c.fd, c.resp.data() + c.got, size - c.got);
      if (r == 0) fatal("rr: the server closed a connection");
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        fatal_errno(errno, "rr: read");
      }
      c.got += static_cast<size_t>(r);
      if (c.got < size) continue;
      const int64_t now = monotonic_ns();
      if (c.resp != c.req)
        fatal("rr: a response differs from its request (seq %" PRIu64 ")", c.seq);
      lat_ns.push_back(now - c.sent_ns);
      last_done = now;
      c.got = 0;
      if (now >= deadline) {
        --active;
        continue;
      }
      fill_request(c.req, ++c.seq);
      c.sent_ns = now;
      write_all(c.fd, c.req.data(), size, "rr");
    }
  }
  for (Conn& c : conns) ::close(c.fd);
  ::close(ep);
  const size_t completed = lat_ns.size();
  Json info;
  info.integer("conns", o.conns)
      .integer("size", o.size)
      .integer("completed", static_cast<int64_t>(completed));
  Json j;
  j.str("workload", "rr")
      .num("value", static_cast<double>(completed) * 1e9 / static_cast<double>(last_done - start))
      .str("unit", "tps");
  add_latency_fields(j, lat_ns);
  ci.finish(o, t, info);
  j.obj("info", info);
  return j;
}

Json run_crr(const Options& o, const Target& t) {
  struct Slot {
    int fd = -1;
    bool sent = false;
    size_t got = 0;
    int64_t t0 = 0;
  };
  CommonInfo ci;
  ci.start(o);
  ::close(connect_with_retry(t, 0));  // wait for the server (it closes a silent connection)
  const size_t size = static_cast<size_t>(o.size);
  socklen_t salen = 0;
  const sockaddr_storage sa = make_addr(t.addr, t.ports[0], &salen);
  std::vector<uint8_t> request(size + 1);
  request[0] = static_cast<uint8_t>(kModeEcho);
  std::memcpy(request.data() + 1, pattern_at(0), size);
  std::vector<uint8_t> resp(size);
  std::vector<Slot> slots(static_cast<size_t>(o.conns));
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) fatal_errno(errno, "crr: epoll_create1");
  std::vector<int64_t> lat_ns;
  lat_ns.reserve(1 << 20);
  uint64_t completed = 0;

  auto open_one = [&](size_t i) {
    Slot& s = slots[i];
    s = Slot{};
    s.t0 = monotonic_ns();
    s.fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.fd < 0) fatal_errno(errno, "crr: socket");
    set_nodelay(s.fd);
    if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&sa), salen) != 0 &&
        errno != EINPROGRESS) {
      const int err = errno;
      if (err == EADDRNOTAVAIL)
        fatal("crr: connect: no local port left (EADDRNOTAVAIL) after %" PRIu64
              " connections: TIME-WAIT sockets on the client hold them (tw=%" PRId64
              ", net.ipv4.ip_local_port_range %" PRId64 "-%" PRId64
              ", net.ipv4.tcp_tw_reuse=%" PRId64
              "); set net.ipv4.tcp_tw_reuse=1 in the client's namespace, or run shorter",
              completed, read_sockstat_tcp("tw"),
              read_sysctl_int("/proc/sys/net/ipv4/ip_local_port_range", 0),
              read_sysctl_int("/proc/sys/net/ipv4/ip_local_port_range", 1),
              read_sysctl_int("/proc/sys/net/ipv4/tcp_tw_reuse"));
      fatal_errno(err, "crr: connect to %s port %d", t.addr.c_str(), t.ports[0]);
    }
    epoll_event ev{.events = EPOLLIN | EPOLLOUT | EPOLLET, .data = {.u64 = i}};
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, s.fd, &ev) != 0) fatal_errno(errno, "crr: epoll_ctl");
  };

  const int64_t start = monotonic_ns();
  const int64_t deadline = start + static_cast<int64_t>(o.seconds * 1e9);
  for (size_t i = 0; i < slots.size(); ++i) open_one(i);
  size_t active = slots.size();
  int64_t last_done = start;
  epoll_event events[kMaxEvents];
  while (active > 0) {
    const int n = ::epoll_wait(ep, events, kMaxEvents, 1000);
    if (n < 0 && errno != EINTR) fatal_errno(errno, "crr: epoll_wait");
    for (int e = 0; e < n; ++e) {
      const size_t i = events[e].data.u64;
      Slot& s = slots[i];
      const uint32_t ev = events[e].events;
      if ((ev & (EPOLLERR | EPOLLHUP)) != 0 && (ev & EPOLLIN) == 0) {
        int err = 0;
        socklen_t elen = sizeof err;
        ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        fatal_errno(err, "crr: connection to %s port %d failed", t.addr.c_str(), t.ports[0]);
      }
      if (!s.sent && (ev & EPOLLOUT) != 0) {
        write_all(s.fd, request.data(), request.size(), "crr");
        s.sent = true;
      }
      if ((ev & EPOLLIN) == 0) continue;
      while (s.got < size) {  // edge-triggered: read until EAGAIN or the whole response
        const ssize_t r = ::read(s.fd, resp.data() + s.got, size - s.got);
        if (r == 0) fatal("crr: the server closed before responding");
        if (r < 0) {
          if (errno == EAGAIN) break;
          if (errno == EINTR) continue;
          fatal_errno(errno, "crr: read");
        }
        s.got += static_cast<size_t>(r);
      }
      if (s.got < size) continue;
      if (std::memcmp(resp.data(), request.data() + 1, size) != 0)
        fatal("crr: a response differs from its request");
      ::close(s.fd);  // active close: TIME-WAIT on the client
      const int64_t now = monotonic_ns();
      lat_ns.push_back(now - s.t0);
      ++completed;
      last_done = now;
      if (now < deadline)
        open_one(i);
      else
        --active;
    }
  }
  ::close(ep);
  Json info;
  info.integer("conns", o.conns)
      .integer("size", o.size)
      .integer("completed", static_cast<int64_t>(completed))
      .num("conn_p50_us", percentile(lat_ns, 50) / 1000.0)
      .num("conn_p99_us", percentile(lat_ns, 99) / 1000.0)
      .integer("tw_after", read_sockstat_tcp("tw"))
      .integer("tcp_tw_reuse", read_sysctl_int("/proc/sys/net/ipv4/tcp_tw_reuse"));
  ci.finish(o, t, info);
  Json j;
  j.str("workload", "crr")
      .num("value", static_cast<double>(completed) * 1e9 / static_cast<double>(last_done - start))
      .str("unit", "conn_s")
      .obj("info", info);
  return j;
}

}  // namespace bench_kernel
