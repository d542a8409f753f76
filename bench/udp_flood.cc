// bench/udp_flood.cc — the traffic source of bench/net_tap.sh's forwarding benchmark: sends
// small UDP datagrams to one destination as fast as the kernel takes them, for a fixed time,
// through an ordinary kernel socket (run it inside a namespace with `ip netns exec`).
//
//   udp_flood DST_IPV4 PORT SECONDS [PAYLOAD_BYTES=18] [BATCH=32]
//
// The socket is connect()ed (the kernel caches the route) and each sendmmsg() carries BATCH
// datagrams, so the sender costs one syscall per BATCH packets and the router under test, not
// the sender, is the bottleneck. 18 payload bytes make a minimum-size Ethernet frame (60 bytes
// + FCS). Errors the kernel reports for a full queue (ENOBUFS, EAGAIN) are counted, not fatal.
// Prints one line: `sent=N errors=E elapsed_ns=T cpu_ns=C`, where C is the CPU time this process
// used (CLOCK_PROCESS_CPUTIME_ID): on a Linux router, the softirq work of forwarding runs in the
// sender's system calls and is counted there.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
int64_t monotonic_ns() { return clock_ns(CLOCK_MONOTONIC); }

int usage() {
  std::fprintf(stderr, "usage: udp_flood DST_IPV4 PORT SECONDS [PAYLOAD_BYTES=18] [BATCH=32]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 6) return usage();
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  if (::inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) return usage();
  const long port = std::strtol(argv[2], nullptr, 10);
  const double seconds = std::strtod(argv[3], nullptr);
  const long payload = argc > 4 ? std::strtol(argv[4], nullptr, 10) : 18;
  const long batch = argc > 5 ? std::strtol(argv[5], nullptr, 10) : 32;
  if (port <= 0 || port > 65535 || seconds <= 0 || payload < 0 || payload > 1472 || batch < 1 ||
      batch > 1024)
    return usage();
  dst.sin_port = htons(static_cast<uint16_t>(port));

  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    std::fprintf(stderr, "udp_flood: socket/connect: %s\n", std::strerror(errno));
    return 1;
  }

  std::vector<uint8_t> data(static_cast<size_t>(payload), 0x5a);
  std::vector<iovec> iov(static_cast<size_t>(batch));
  std::vector<mmsghdr> msgs(static_cast<size_t>(batch));
  for (size_t i = 0; i < msgs.size(); ++i) {
    iov[i] = iovec{data.data(), data.size()};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  uint64_t sent = 0;
  uint64_t errors = 0;
  const int64_t cpu_start = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  const int64_t start = monotonic_ns();
  const int64_t end = start + static_cast<int64_t>(seconds * 1e9);
  int64_t now = start;
  while (now < end) {
    const int n = ::sendmmsg(fd, msgs.data(), static_cast<unsigned>(msgs.size()), 0);
    if (n > 0) {
      sent += static_cast<uint64_t>(n);
    } else if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED) {
      ++errors;  // a full queue, or an ICMP error queued on the socket: keep going
    } else {
      std::fprintf(stderr, "udp_flood: sendmmsg: %s\n", std::strerror(errno));
      return 1;
    }
    now = monotonic_ns();
  }
  const int64_t cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
  std::printf("sent=%llu errors=%llu elapsed_ns=%lld cpu_ns=%lld\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(errors),
              static_cast<long long>(now - start), static_cast<long long>(cpu));
  ::close(fd);
  return 0;
}
