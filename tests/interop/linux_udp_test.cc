// interop/linux_udp_test.cc — a Linux UDP client against `ustack host --udp-echo 7`
// (network-layer acceptance: 10 000 datagrams, every one echoed byte for byte).
//
// The client is a kernel UDP socket opened by a thread of this test that first entered the
// host's namespace (setns applies per thread), so Linux's own UDP and IPv4 code (and its
// fragmentation and reassembly) is the peer. It keeps a window of datagrams outstanding and
// matches echoes by the sequence number in the first four payload bytes; datagrams shorter
// than four bytes have no room for it and go alone, with nothing else outstanding. Sizes are
// seeded: 9 in 10 fit one frame (1..1472 bytes), the rest (1473..8000) fragment both ways.
// There is no retry: a datagram not echoed within its timeout is counted lost and the test
// requires none lost. The window (32 datagrams, at most ~190 frames in flight) stays well
// inside every queue on the path (the TAP's 1000-frame txqueue, our RX ring refilled every
// poll, the client's receive buffer raised to 4 MiB), so loss would be a bug, not load.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "interop/host_process.h"

namespace ustack::interop {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kDatagrams = 10'000;
constexpr size_t kWindow = 32;
constexpr size_t kMaxOneFrame = 1472;  // 1500 - 20 (IPv4) - 8 (UDP)
constexpr size_t kMaxSize = 8000;

// The payload of datagram `seq`: its number (little endian) when there is room, then bytes
// that depend on seq and position, so a mixed-up or corrupted echo never matches.
std::vector<uint8_t> payload(uint32_t seq, size_t size) {
  std::vector<uint8_t> p(size);
  uint64_t x = 0x9e3779b97f4a7c15ull * (seq + 1);
  for (size_t i = 0; i < size; ++i) {
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 32;
    p[i] = static_cast<uint8_t>(x);
  }
  if (size >= 4) std::memcpy(p.data(), &seq, 4);
  return p;
}

std::vector<size_t> seeded_sizes(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> small(1, kMaxOneFrame), big(kMaxOneFrame + 1, kMaxSize);
  std::vector<size_t> sizes(kDatagrams);
  for (size_t& s : sizes) s = rng() % 10 == 0 ? big(rng) : small(rng);
  return sizes;
}

struct ClientResult {
  std::string error;  // socket setup/IO failure
  int echoed = 0;     // byte-identical echoes of an outstanding datagram
  int lost = 0;       // no echo within the timeout
  int bad = 0;        // an echo that matched no outstanding datagram, or differed
  double seconds = 0;
};

// Runs in the namespace (see in_netns).
ClientResult run_client(const std::vector<size_t>& sizes, const char* server, uint16_t port) {
  ClientResult r;
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = std::string("socket: ") + std::strerror(errno);
    return r;
  }
  const int buf = 4 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, server, &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    r.error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return r;
  }

  const auto t0 = Clock::now();
  const auto give_up = t0 + 60s;                      // the whole exchange
  const auto timeout = 2s;                            // one datagram
  std::map<uint32_t, Clock::time_point> outstanding;  // seq -> deadline
  std::vector<uint8_t> in(65536);
  uint32_t next = 0;
  while ((next < sizes.size() || !outstanding.empty()) && Clock::now() < give_up) {
    // Fill the window; a datagram too short to carry its number goes alone.
    while (next < sizes.size() && outstanding.size() < kWindow) {
      const bool alone = sizes[next] < 4;
      if (alone && !outstanding.empty()) break;
      const std::vector<uint8_t> p = payload(next, sizes[next]);
      if (::send(fd, p.data(), p.size(), 0) != static_cast<ssize_t>(p.size())) {
        r.error = "send #" + std::to_string(next) + ": " + std::strerror(errno);
        ::close(fd);
        return r;
      }
      outstanding[next] = Clock::now() + timeout;
      ++next;
      if (alone) break;
    }
    // Wait for echoes until the earliest deadline.
    Clock::time_point first = Clock::time_point::max();
    for (const auto& [seq, deadline] : outstanding) first = std::min(first, deadline);
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(first - Clock::now());
    pollfd pfd{fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 1000)));
    if (ready < 0 && errno != EINTR) {
      r.error = std::string("poll: ") + std::strerror(errno);
      break;
    }
    for (;;) {
      const ssize_t n = ::recv(fd, in.data(), in.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
          r.error = std::string("recv: ") + std::strerror(errno);
        break;
      }
      const size_t len = static_cast<size_t>(n);
      uint32_t seq = 0;
      if (len >= 4) {
        std::memcpy(&seq, in.data(), 4);
      } else if (outstanding.size() == 1) {
        seq = outstanding.begin()->first;  // the lone short datagram
      } else {
        ++r.bad;
        continue;
      }
      const auto it = outstanding.find(seq);
      if (it == outstanding.end() || seq >= sizes.size() || sizes[seq] != len ||
          payload(seq, len) != std::vector<uint8_t>(in.begin(), in.begin() + n)) {
        ++r.bad;
        continue;
      }
      outstanding.erase(it);
      ++r.echoed;
    }
    if (!r.error.empty()) break;
    const auto now = Clock::now();
    for (auto it = outstanding.begin(); it != outstanding.end();) {
      if (it->second <= now) {
        ++r.lost;
        it = outstanding.erase(it);
      } else {
        ++it;
      }
    }
  }
  r.lost += static_cast<int>(outstanding.size() + (sizes.size() - next));
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  ::close(fd);
  return r;
}

class LinuxUdp : public OneHostTest {
 protected:
  LinuxUdp() : OneHostTest("uudp") {}
};

TEST_F(LinuxUdp, TenThousandDatagramsEchoedByteIdentical) {
  ASSERT_NO_FATAL_FAILURE(start_host({"--udp-echo", "7"}));

  const std::vector<size_t> sizes = seeded_sizes(20240501);
  uint64_t bytes = 0, big = 0, big_frags = 0;
  for (size_t s : sizes) {
    bytes += s;
    if (s > kMaxOneFrame) {
      ++big;
      big_frags += (s + 8 + 1479) / 1480;
    }
  }
  ASSERT_GT(big, 500u);  // the seed gives both kinds in quantity

  ClientResult client;
  const std::string why = in_netns(ns_, [&] { client = run_client(sizes, kUstack, 7); });
  ASSERT_EQ(why, "");
  EXPECT_EQ(client.error, "");
  EXPECT_EQ(client.echoed, kDatagrams) << "lost " << client.lost << ", bad " << client.bad;
  EXPECT_EQ(client.lost, 0);
  EXPECT_EQ(client.bad, 0);
  std::printf("[ info ] %d/%d datagrams echoed (%llu fragmented) in %.2f s\n", client.echoed,
              kDatagrams, static_cast<unsigned long long>(big), client.seconds);

  // A stock tool: one socat exchange.
  const std::string text = "ustack echoes socat";
  const CmdResult socat = ns_.exec("printf '" + text + "' | socat -t 2 - UDP:" + kUstack + ":7");
  EXPECT_EQ(socat.output, text);

  std::string out;
  ASSERT_NO_FATAL_FAILURE(stop_host(&out));
  const auto echo = echo_counters(out, 7);
  ASSERT_TRUE(echo.has_value()) << out;
  EXPECT_EQ(echo->datagrams, kDatagrams + 1u) << out;
  EXPECT_EQ(echo->bytes, bytes + text.size()) << out;
  EXPECT_EQ(snmp_value(out, "Udp", "InDatagrams"), kDatagrams + 1u) << out;
  EXPECT_EQ(snmp_value(out, "Udp", "OutDatagrams"), kDatagrams + 1u) << out;
  EXPECT_EQ(snmp_value(out, "Udp", "InErrors"), 0u) << out;
  EXPECT_EQ(snmp_value(out, "Udp", "RcvbufErrors"), 0u) << out;
  // The large ones were reassembled on the way in and fragmented on the way out.
  EXPECT_EQ(snmp_value(out, "Ip", "ReasmOKs"), big) << out;
  EXPECT_EQ(snmp_value(out, "Ip", "ReasmReqds"), big_frags) << out;
  EXPECT_EQ(snmp_value(out, "Ip", "FragOKs"), big) << out;
  EXPECT_EQ(snmp_value(out, "Ip", "FragCreates"), big_frags) << out;
}

}  // namespace
}  // namespace ustack::interop
