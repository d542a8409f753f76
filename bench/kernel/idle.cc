// bench/kernel/idle.cc — bench_kernel's idle workload: --count connections opened (a window of
// non-blocking connects in flight), each accepted and acknowledged by the server ('I' -> 'K'),
// then held ESTABLISHED and idle at both ends, each end registered in its process's epoll set,
// as a server holding idle clients would be. The kernel memory they cost is read from the slab
// allocator before and after: /proc/slabinfo per cache (active objects x object size) and
// /proc/meminfo (SReclaimable + SUnreclaim), divided by 2 x count: client and server ends live
// in the same kernel whether on loopback or in two namespaces. The slab is global to the
// machine, so whatever else runs meanwhile is counted too (noise, possibly negative).
//
// Ports: a source port serves one connection per (destination, destination port), and
// net.ipv4.ip_local_port_range holds ~28 000 of them, so the connections use every server
// listening port (--ports, default 4: enough for 100 000), binding (source port, server port)
// pairs in order and skipping source ports others hold (see open_share). At the end every client
// socket is aborted (SO_LINGER {1, 0}: RST): no TIME-WAIT sockets are left behind to expire into
// the next run's measurement.
//
// Processes: the connections are opened by worker processes forked for the purpose, each
// holding as many as RLIMIT_NOFILE lets it (one worker where the limit can be raised to --count;
// five or six for 100 000 under a hard limit of 20 000 without CAP_SYS_RESOURCE). The server
// spills into more processes the same way (server.h). The parent only measures.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstring>
#include <map>

#include "client.h"

namespace bench_kernel {

namespace {
constexpr size_t kWindow = 256;  // connects in flight: below net.core.somaxconn (4096)
constexpr int kMaxEvents = 256;

// Caches that hold a connection's kernel state (either end): the socket (TCP), its inode and
// struct socket (sock_inode_cache), the file and dentry behind the fd, the LSM blobs of the file
// and inode, the epoll item and the watched file's epoll list head (ep_head), the client's bound
// port, and queued data or handshakes (expected zero for an idle connection).
constexpr const char* kConnectionCaches[] = {"TCP",
                                             "request_sock_TCP",
                                             "tw_sock_TCP",
                                             "sock_inode_cache",
                                             "dentry",
                                             "filp",
                                             "lsm_file_cache",
                                             "lsm_inode_cache",
                                             "eventpoll_epi",
                                             "eventpoll_pwq",
                                             "ep_head",
                                             "tcp_bind_bucket",
                                             "tcp_bind2_bucket",
                                             "skbuff_head_cache",
                                             "skbuff_fclone_cache",
                                             "skbuff_small_head"};

// SLUB merges caches of equal size and flags; /proc/slabinfo shows each merged group once, under
// one of its names (here eventpoll_pwq counts under anon_vma_chain, tcp_bind_bucket under
// eventpoll_epi). The group is the target of the /sys/kernel/slab/NAME link, or NAME itself.
std::string slab_group(const std::string& name) {
  char target[256];
  const std::string path = "/sys/kernel/slab/" + name;
  const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : name;
}

int64_t slab_kb() { return read_meminfo_kb("SReclaimable") + read_meminfo_kb("SUnreclaim"); }

// The source ports a worker binds: all of net.ipv4.ip_local_port_range, each worker starting
// at its own offset so that workers rarely try the same 4-tuple (when they do, connect() says
// EADDRNOTAVAIL and the next port is tried).
struct SourcePorts {
  int lo = 32768;
  int span = 28232;
  int start = 0;  // offset into the range
};

// Opens connections [begin, end) to the server's first `nports` ports, sends each 'I' and
// waits for its 'K': then every one is ESTABLISHED and accepted at both ends. The sockets stay
// registered in the returned epoll set. Source ports are chosen here and bound with
// SO_REUSEADDR: connect()'s own ephemeral-port search scans the range for a free 4-tuple and
// slows down as tens of thousands of ports fill up. A port held by a socket without
// SO_REUSEADDR (TIME-WAIT of a crr run) cannot be bound: once every destination port has tried
// the whole range, connect() picks the source port itself (it may reuse TIME-WAIT 4-tuples
// under net.ipv4.tcp_tw_reuse).
int open_share(const Target& t, size_t nports, size_t begin, size_t end, const SourcePorts& src,
               std::vector<int>& fds) {
  std::vector<socklen_t> salen(nports);
  std::vector<sockaddr_storage> sa(nports);
  for (size_t p = 0; p < nports; ++p) sa[p] = make_addr(t.addr, t.ports[p], &salen[p]);
  // (source port, destination port) pairs in order: each source port serves every destination
  // port before the next is bound, so a port someone holds costs one failed bind().
  const int64_t pairs = static_cast<int64_t>(src.span) * static_cast<int64_t>(nports);
  int64_t pair = 0;
  const size_t count = end - begin;
  fds.assign(count, -1);
  std::vector<uint8_t> state(count, 0);  // 0: connecting, 1: 'I' sent, 2: 'K' received
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) fatal_errno(errno, "idle: epoll_create1");
  size_t next = 0;
  size_t acked = 0;
  size_t in_flight = 0;
  epoll_event events[kMaxEvents];
  while (acked < count) {
    while (in_flight < kWindow && next < count) {
      int fd = -1;
      while (fd < 0) {  // skip source ports someone else holds (EADDRINUSE, EADDRNOTAVAIL)
        const bool autobind = pair >= pairs;
        const size_t p = autobind ? (begin + next) % nports : static_cast<size_t>(pair % nports);
        const int64_t sp = pair / static_cast<int64_t>(nports);
        const int port = static_cast<int>(src.lo + (src.start + sp) % src.span);
        ++pair;
        fd = ::socket(sa[p].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) fatal_errno(errno, "idle: socket (connection %zu)", begin + next);
        socklen_t len = 0;
        const sockaddr_storage local =
            make_addr(sa[p].ss_family == AF_INET ? "0.0.0.0" : "::", port, &len);
        const int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if ((autobind || ::bind(fd, reinterpret_cast<const sockaddr*>(&local), len) == 0) &&
            (::connect(fd, reinterpret_cast<sockaddr*>(&sa[p]), salen[p]) == 0 ||
             errno == EINPROGRESS))
          break;
        const int err = errno;
        ::close(fd);
        fd = -1;
        if (!autobind && err == EADDRINUSE) pair = (sp + 1) * static_cast<int64_t>(nports);
        if (autobind && err == EADDRNOTAVAIL)
          fatal(
              "idle: connect: no local port left (EADDRNOTAVAIL) at connection %zu: use more "
              "server ports (--ports) or widen net.ipv4.ip_local_port_range",
              begin + next);
        if (autobind || (err != EADDRINUSE && err != EADDRNOTAVAIL))
          fatal_errno(err, "idle: connect (connection %zu) to %s port %d", begin + next,
                      t.addr.c_str(), t.ports[p]);
      }
      epoll_event ev{.events = EPOLLIN | EPOLLOUT | EPOLLET, .data = {.u64 = next}};
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) fatal_errno(errno, "idle: epoll_ctl");
      fds[next++] = fd;
      ++in_flight;
    }
    const int n = ::epoll_wait(ep, events, kMaxEvents, 1000);
    if (n < 0 && errno != EINTR) fatal_errno(errno, "idle: epoll_wait");
    for (int e = 0; e < n; ++e) {
      const size_t i = events[e].data.u64;
      const uint32_t ev = events[e].events;
      if ((ev & (EPOLLERR | EPOLLHUP)) != 0 && (ev & EPOLLIN) == 0) {
        int err = 0;
        socklen_t elen = sizeof err;
        ::getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &elen);
        fatal_errno(err, "idle: connection %zu failed", begin + i);
      }
      if (state[i] == 0 && (ev & EPOLLOUT) != 0) {
        const char mode = kModeIdle;
        if (::write(fds[i], &mode, 1) != 1) fatal_errno(errno, "idle: write");
        state[i] = 1;
      }
      if (state[i] == 1 && (ev & EPOLLIN) != 0) {
        char ack[16];
        const ssize_t r = ::read(fds[i], ack, sizeof ack);
        if (r == 0) fatal("idle: the server closed connection %zu (out of files?)", begin + i);
        if (r < 0 && errno != EAGAIN) fatal_errno(errno, "idle: read");
        if (r > 0) {
          state[i] = 2;
          ++acked;
          --in_flight;
        }
      }
    }
  }
  return ep;
}

// A worker process: opens its share, says 'R' on `ready_w`, holds the connections until
// `release_r` reaches EOF (the parent closed it or died), then aborts them (RST) and exits.
[[noreturn]] void worker(const Options& o, const Target& t, size_t nports, size_t begin, size_t end,
                         const SourcePorts& src, int ready_w, int release_r) {
  ::alarm(static_cast<unsigned>(std::ceil(o.seconds)) + 20);  // alarms are not inherited
  std::vector<int> fds;
  const int ep = open_share(t, nports, begin, end, src, fds);
  if (::write(ready_w, "R", 1) != 1) fatal_errno(errno, "idle: worker ready");
  char c;
  while (::read(release_r, &c, 1) != 0 && errno == EINTR) {
  }
  const linger abort_linger{.l_onoff = 1, .l_linger = 0};
  for (const int fd : fds) {
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_linger, sizeof abort_linger);
    ::close(fd);
  }
  ::close(ep);
  ::_exit(0);
}
}  // namespace

Json run_idle(const Options& o, const Target& t) {
  CommonInfo ci;
  ci.start(o);
  const size_t count = static_cast<size_t>(o.count);
  int64_t lo = read_sysctl_int("/proc/sys/net/ipv4/ip_local_port_range", 0);
  int64_t hi = read_sysctl_int("/proc/sys/net/ipv4/ip_local_port_range", 1);
  if (lo <= 0 || hi < lo) {
    lo = 32768;
    hi = 60999;
  }
  const double per_port = 0.9 * static_cast<double>(hi - lo + 1);
  const size_t ports_needed = static_cast<size_t>(std::ceil(static_cast<double>(count) / per_port));
  if (ports_needed > t.ports.size())
    fatal("idle: %zu connections need %zu server ports with ip_local_port_range %" PRId64
          "-%" PRId64
          " (about %.0f connections per port); run the server and the client with "
          "--ports %zu",
          count, ports_needed, lo, hi, per_port, ports_needed);
  const size_t nports = t.ports.size();  // all of them: some may be crowded with TIME-WAIT
  const uint64_t nofile = raise_nofile(count + 256);  // inherited by the workers
  const size_t per_worker = std::min<size_t>(count, nofile > 256 ? nofile - 128 : nofile / 2);
  const size_t workers = (count + per_worker - 1) / per_worker;

  ::close(connect_with_retry(t, 0));  // the server is up
  ::usleep(100'000);                  // let RCU free what the probe connection left
  const auto slab0 = read_slabinfo();
  const int64_t kb0 = slab_kb();
  const int64_t alloc0 = read_sockstat_tcp("alloc");

  int ready[2];
  int release[2];
  if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(release, O_CLOEXEC) != 0)
    fatal_errno(errno, "idle: pipe");
  const int64_t t0 = monotonic_ns();
  std::vector<pid_t> pids;
  std::fflush(nullptr);
  for (size_t w = 0; w < workers; ++w) {
    const pid_t pid = ::fork();
    if (pid < 0) fatal_errno(errno, "idle: fork");
    if (pid == 0) {
      ::close(ready[0]);
      ::close(release[1]);
      SourcePorts src;
      src.lo = static_cast<int>(lo);
      src.span = static_cast<int>(hi - lo + 1);
      src.start = static_cast<int>(static_cast<int64_t>(src.span) * static_cast<int64_t>(w) /
                                   static_cast<int64_t>(workers));
      worker(o, t, nports, count * w / workers, count * (w + 1) / workers, src, ready[1],
             release[0]);
    }
    pids.push_back(pid);
  }
  ::close(ready[1]);
  ::close(release[0]);
  for (size_t got = 0; got < workers;) {
    char c[64];
    const ssize_t r = ::read(ready[0], c, sizeof c);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fatal("idle: a worker process failed (its error is above)");
    got += static_cast<size_t>(r);
  }
  const int64_t open_ns = monotonic_ns() - t0;
  ::usleep(100'000);  // delayed ACKs out, nothing in flight: the connections are idle
  const auto slab1 = read_slabinfo();
  const int64_t kb1 = slab_kb();
  const int64_t alloc1 = read_sockstat_tcp("alloc");

  // Per-cache growth, per connection end. Caches not in the list are shown when they grew by
  // at least one object per four ends (kmalloc-*, ...), so nothing large hides.
  const double ends = 2.0 * static_cast<double>(count);
  Json objs;
  Json bytes;
  double listed_bytes = 0;
  double other_bytes = 0;
  auto growth = [&](const std::string& name, bool bytes_not_objs) {
    const auto b = slab0.find(name);
    const auto a = slab1.find(name);
    const SlabCache before = b == slab0.end() ? SlabCache{} : b->second;
    const SlabCache after = a == slab1.end() ? SlabCache{} : a->second;
    return bytes_not_objs ? static_cast<double>(after.active_objs * after.objsize -
                                                before.active_objs * before.objsize)
                          : static_cast<double>(after.active_objs - before.active_objs);
  };
  // The connection caches, by merged group: group -> the listed names in it.
  std::map<std::string, std::string> listed_groups;
  for (const char* c : kConnectionCaches) {
    std::string& names = listed_groups[slab_group(c)];
    if (!names.empty()) names += '+';
    names.append(c);
  }
  for (const auto& [name, after] : slab1) {
    const double d_objs = growth(name, false);
    const auto g = listed_groups.find(slab_group(name));
    const bool listed = g != listed_groups.end();
    if (!listed && d_objs < ends / 4) continue;
    // "row (holding: listed names)" when the row is a merged group shown under another name.
    std::string label = name;
    if (listed && g->second != name) label.append(" (holding ").append(g->second).append(")");
    objs.num(label, d_objs / ends);
    bytes.num(label, growth(name, true) / ends);
    (listed ? listed_bytes : other_bytes) += growth(name, true) / ends;
  }
  // Anything that lists /proc/PID/fd (here, a monitor of the machine does, every few seconds)
  // adds a proc inode, its LSM blob and a dentry per fd: the reader's doing, not the socket's.
  const double proc_inodes = std::max(0.0, growth("proc_inode_cache", false));
  const auto objsize = [&](const char* name) {
    const auto it = slab1.find(name);
    return it == slab1.end() ? 0.0 : static_cast<double>(it->second.objsize);
  };
  const double proc_fd_bytes =
      proc_inodes * (objsize("dentry") + objsize("lsm_inode_cache")) / ends;
  listed_bytes -= proc_fd_bytes;
  const double meminfo_per_end = static_cast<double>(kb1 - kb0) * 1024 / ends;

  // The workers abort every connection (RST): no TIME-WAIT left to expire into the next run.
  ::close(release[1]);
  ::close(ready[0]);
  for (const pid_t pid : pids) ::waitpid(pid, nullptr, 0);

  Json info;
  info.integer("count", o.count)
      .integer("server_ports_used", static_cast<int64_t>(nports))
      .integer("client_processes", static_cast<int64_t>(workers))
      .integer("rlimit_nofile", static_cast<int64_t>(nofile))
      .num("open_s", static_cast<double>(open_ns) / 1e9)
      .num("slab_listed_bytes_per_end", listed_bytes)
      .num("slab_other_bytes_per_end", other_bytes)
      .num("proc_fd_listing_bytes_per_end_removed", proc_fd_bytes)
      .num("meminfo_slab_bytes_per_end", meminfo_per_end)
      .obj("slab_bytes_per_end", bytes)
      .obj("slab_objs_per_end", objs)
      .integer("sockstat_alloc_growth", alloc1 - alloc0)
      .str("method",
           "slab growth while the connections opened / (2 x count), both ends being in this "
           "kernel: value = growth of the connection caches (active objects x object size), "
           "less the dentry and LSM inode blob of every new proc inode (someone listing "
           "/proc/PID/fd); other caches grown by >= 0.25 object per end are shown, not counted; "
           "the slab is machine-wide, so other activity is noise");
  if (slab0.empty())
    info.str("warning", "/proc/slabinfo unreadable (needs root): value from meminfo");
  ci.finish(o, t, info);
  Json j;
  j.str("workload", "idle")
      .num("value", slab0.empty() ? meminfo_per_end : listed_bytes)
      .str("unit", "bytes_per_conn")
      .obj("info", info);
  return j;
}

}  // namespace bench_kernel
