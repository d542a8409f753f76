// interop/linux_tcp_test.cc — Linux's TCP against `ustack host`'s TCP services through a TAP
// (issue 4's acceptance), each test in its own namespace (OneHostTest), always cleaned up.
//
//   bulk       256 MiB Linux -> --tcp-sink (socat from a file of random bytes, sha256sum) and
//              --tcp-source -> Linux (socat | sha256sum): the digests match.
//   impaired   the same two directions through --impair loss=2% (each way) and reorder=5%, with
//              a kernel socket of this test on the Linux side so it can time the transfer: it
//              must complete with the right digest inside a wall-clock limit, and the longest
//              pause in progress must stay within a few RTO backoffs (no stall).
//   echo       2000 sequential connections to --tcp-echo, then 500 held open at once, each
//              echoed byte for byte; once TIME-WAIT (shortened) is over the socket table
//              holds only the listener.
//   refused    Linux connecting to a closed port gets ECONNREFUSED; --tcp-source to a closed
//              Linux port exits 1 naming ECONNREFUSED.
//   offload    --tap-offload, 64 MiB each way: digests match and TapStats show GSO frames longer
//              than the MTU crossed the TAP whole in both directions (and the pcap has them).
//   overflow   --tcp-backlog 2 --tcp-pause-accept: the accept queue stays bounded and the
//              overflow is counted (ListenOverflows/ListenDrops or SyncookiesSent).
// Every pcap must pass tshark_clean (no malformed frames, no bad checksums) and tshark's TCP
// analysis must find no "ACKed unseen segment". Bulk captures keep 128 bytes per frame
// (--pcap-snaplen): headers only, which is all the TCP analysis needs.
//
// Duration: the bulk and impaired tests move 256 MiB each. Under AddressSanitizer (a slower
// build) they move 32 MiB instead unless USTACK_INTEROP_FULL=1 is set; they all carry the
// prefix "Bulk" so `--gtest_filter=-*Bulk*` skips them entirely. This file builds into its own
// binary (interop_tcp_tests) with a longer ctest timeout than the other interop tests.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "interop/host_process.h"
#include "tools/pcap_check.h"
#include "ustack/app/sha256.h"
#include "ustack/app/tcp_pattern.h"

namespace ustack::interop {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif

uint64_t bulk_bytes() {
  const char* full = std::getenv("USTACK_INTEROP_FULL");
  return kAsan && (full == nullptr || std::string(full) != "1") ? (32ull << 20) : (256ull << 20);
}

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// tshark's verdict plus the TCP analysis flag the issue names. Two adjustments, both about
// what tshark reads into frames that are not ours to judge:
//  - the payload on our service ports is decoded as plain data: random bytes otherwise wake
//    heuristic dissectors (Thrift) that then report "errors" in them;
//  - Linux's own segments whose checksum field is 0xffff are left out: skb_checksum_help
//    writes CSUM_MANGLED_0 (0xffff) when the folded sum is 0, the one's-complement equal of
//    0x0000 (RFC 1624), which tshark flags. Every frame ustack sent is still checked.
void expect_tcp_pcap_clean(const std::string& pcap) {
  std::vector<std::string> args = testtools::tcp_payload_as_data({7, 9, 5001});
  args.insert(args.end(), {"-Y", "!(ip.src == 192.0.2.1 && tcp.checksum == 0xffff)"});
  EXPECT_TRUE(testtools::tshark_clean(pcap, args));
  EXPECT_EQ(tshark_count(pcap, "tcp.analysis.ack_lost_segment"), 0) << "ACKed unseen segment";
}

// The `conn N ...` lines the host printed.
std::vector<std::string> conn_lines(const std::string& out) {
  std::vector<std::string> v;
  size_t at = 0;
  while ((at = out.find("conn ", at)) != std::string::npos) {
    if (at != 0 && out[at - 1] != '\n') {
      ++at;
      continue;
    }
    const size_t end = out.find('\n', at);
    v.push_back(out.substr(at, end - at));
    at = end;
  }
  return v;
}

sockaddr_in sockaddr_of(const char* ip, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &sa.sin_addr);
  return sa;
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// One transfer as the Linux side saw it.
struct Transfer {
  std::string error;
  uint64_t bytes = 0;
  std::string sha256;
  double seconds = 0;
  double max_gap = 0;  // longest time without progress, seconds
};

// Waits for `events` on fd until `deadline`; false on timeout.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000))) >= 0;
}

// Sends `n` bytes of the pattern on a connected non-blocking socket, half-closes, reads until
// the peer's FIN. Runs on any thread: the socket already lives in the namespace.
Transfer send_pattern(int fd, uint64_t n, Clock::time_point deadline) {
  Transfer t;
  const auto t0 = Clock::now();
  auto last = t0;
  app::Sha256 sha;
  std::vector<uint8_t> buf(256 * 1024);
  uint64_t off = 0;
  bool shut = false;
  while (Clock::now() < deadline) {
    if (off < n) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(buf.size(), n - off));
      app::pattern_fill(off, std::span<uint8_t>(buf.data(), len));
      const ssize_t w = ::send(fd, buf.data(), len, MSG_NOSIGNAL);
      if (w > 0) {
        sha.update(std::span<const uint8_t>(buf.data(), static_cast<size_t>(w)));
        off += static_cast<uint64_t>(w);
        const auto now = Clock::now();
        t.max_gap = std::max(t.max_gap, std::chrono::duration<double>(now - last).count());
        last = now;
        continue;
      }
      if (w < 0 && errno != EAGAIN && errno != EINTR) {
        t.error = errno_text("send");
        break;
      }
      wait_fd(fd, POLLOUT, deadline);
      continue;
    }
    if (!shut) {
      ::shutdown(fd, SHUT_WR);
      shut = true;
    }
    const ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
    if (r == 0) break;  // the peer's FIN
    if (r < 0 && errno != EAGAIN && errno != EINTR) {
      t.error = errno_text("recv");
      break;
    }
    if (r < 0) wait_fd(fd, POLLIN, deadline);
  }
  if (t.error.empty() && Clock::now() >= deadline) t.error = "deadline passed";
  t.bytes = off;
  t.sha256 = sha.finish_hex();
  t.seconds = since(t0);
  return t;
}

// Accepts one connection on `lfd` and reads it to EOF, hashing.
Transfer receive_all(int lfd, Clock::time_point deadline) {
  Transfer t;
  while (Clock::now() < deadline) {
    wait_fd(lfd, POLLIN, deadline);
    const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      t.error = errno_text("accept");
      return t;
    }
    const auto t0 = Clock::now();
    auto last = t0;
    app::Sha256 sha;
    std::vector<uint8_t> buf(256 * 1024);
    while (Clock::now() < deadline) {
      const ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
      if (r > 0) {
        sha.update(std::span<const uint8_t>(buf.data(), static_cast<size_t>(r)));
        t.bytes += static_cast<uint64_t>(r);
        const auto now = Clock::now();
        t.max_gap = std::max(t.max_gap, std::chrono::duration<double>(now - last).count());
        last = now;
        continue;
      }
      if (r == 0) break;
      if (errno != EAGAIN && errno != EINTR) {
        t.error = errno_text("recv");
        break;
      }
      wait_fd(fd, POLLIN, deadline);
    }
    if (t.error.empty() && Clock::now() >= deadline) t.error = "deadline passed";
    t.sha256 = sha.finish_hex();
    t.seconds = since(t0);
    ::close(fd);
    return t;
  }
  t.error = "no connection before the deadline";
  return t;
}

class LinuxTcp : public OneHostTest {
 protected:
  LinuxTcp() : OneHostTest("utcp") {}

  // A kernel socket created inside the namespace (usable from any thread afterwards).
  int ns_socket(bool nonblock) {
    int fd = -1;
    EXPECT_EQ(in_netns(ns_,
                       [&] {
                         fd = ::socket(AF_INET,
                                       SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0),
                                       0);
                       }),
              "");
    EXPECT_GE(fd, 0) << std::strerror(errno);
    return fd;
  }
  int ns_listener(uint16_t port) {
    const int fd = ns_socket(true);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa = sockaddr_of("0.0.0.0", port);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << std::strerror(errno);
    EXPECT_EQ(::listen(fd, 16), 0);
    return fd;
  }
  // Connects a non-blocking socket to ustack, waiting up to 5 s; "" or the error.
  std::string connect_ustack(int fd, uint16_t port) {
    sockaddr_in sa = sockaddr_of(kUstack, port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return "";
    if (errno != EINPROGRESS) return errno_text("connect");
    if (!wait_fd(fd, POLLOUT, Clock::now() + 5s)) return "connect: timed out";
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err == 0 ? "" : std::string("connect: ") + std::strerror(err);
  }
  // For --tcp-source: the source connects as soon as the host runs, so the kernel side must
  // be up first (a TAP without carrier fails neighbour resolution at once: EHOSTUNREACH). The
  // test creates the TAP (persistent, in the namespace), addresses it and brings it up; the
  // host then opens the existing TAP. Use with ASSERT_NO_FATAL_FAILURE.
  void start_host_on_ready_tap(const std::vector<std::string>& extra) {
    const std::string cmd = "(ip link show " + tap_ + " >/dev/null 2>&1 || (ip tuntap add dev " +
                            tap_ + " mode tap && ip addr add " + kLinux + "/24 dev " + tap_ +
                            ")) && ip link set " + tap_ + " up";
    const CmdResult r = ns_.exec(cmd);
    ASSERT_TRUE(r.ok()) << cmd << ": " << r.output;
    std::vector<std::string> args = {"--tap",  tap_,  "--addr", std::string(kUstack) + "/24",
                                     "--pcap", pcap()};
    args.insert(args.end(), extra.begin(), extra.end());
    host_ = std::make_unique<HostProcess>(ns_, args, dir_.file("out"), dir_.file("err"));
    ASSERT_TRUE(host_->wait_ready()) << host_->err();
  }
  // Linux's receiver for --tcp-source: socat on port 5001 piping into sha256sum, on a thread
  // (`*sink` gets its output when `*listener` is joined); returns once the port listens. It
  // binds before the TAP exists (INADDR_ANY in the namespace). Use with ASSERT_NO_FATAL_FAILURE.
  void start_linux_sha_listener(CmdResult* sink, std::thread* listener) {
    *listener = std::thread([this, sink] {
      *sink = ns_.exec("timeout 300 socat -u TCP-LISTEN:5001,reuseaddr STDOUT | sha256sum");
    });
    bool listening = false;
    for (int i = 0; i < 500 && !listening; ++i) {
      listening = !ns_.exec("ss -Hltn 'sport = :5001'").output.empty();
      if (!listening) std::this_thread::sleep_for(10ms);
    }
    if (!listening) listener->join();  // socat failed: do not leave a joinable thread behind
    ASSERT_TRUE(listening);
  }
  // OneHostTest::stop_host with the TCP pcap checks (expect_tcp_pcap_clean).
  void stop_tcp_host(std::string* out) {
    ASSERT_NE(host_, nullptr);
    ASSERT_TRUE(host_->stop(SIGINT)) << "ustack host ignored SIGINT";
    *out = host_->out();
    EXPECT_EQ(host_->status(), 0) << host_->err();
    EXPECT_NE(host_->err().find("ustack host: stopped by"), std::string::npos) << host_->err();
    EXPECT_EQ(host_->err().find("Sanitizer"), std::string::npos) << host_->err();
    expect_tcp_pcap_clean(pcap());
  }
  // Waits until the host (which ends by itself) has exited; its stdout.
  std::string wait_host_exit(std::chrono::milliseconds limit) {
    EXPECT_TRUE(host_->exited(limit)) << "ustack host still running";
    return host_->out();
  }
  // Polls the host's stdout until it has `n` conn lines.
  bool wait_conn_lines(size_t n, std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
      if (conn_lines(host_->out()).size() >= n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  // Linux (a kernel socket) sends `bytes` to --tcp-sink through `impair`.
  void sink_test(const std::vector<std::string>& impair, double wall_limit_s, double gap_limit_s);
  // --tcp-source sends `bytes` to a Linux kernel listener through `impair`.
  void source_test(const std::vector<std::string>& impair, double wall_limit_s, double gap_limit_s);
};

// ---- bulk: socat and sha256sum on the Linux side ------------------------------------------------

TEST_F(LinuxTcp, BulkLinuxSocatToSinkDigestMatches) {
  const uint64_t n = bulk_bytes();
  const std::string data = dir_.file("data");
  ASSERT_TRUE(run_cmd("head -c " + std::to_string(n) + " /dev/urandom > " + data).ok());
  const CmdResult sum = run_cmd("sha256sum < " + data);
  ASSERT_TRUE(sum.ok());
  const std::string want = sum.output.substr(0, 64);
  ASSERT_NO_FATAL_FAILURE(start_host({"--tcp-sink", "9", "--pcap-snaplen", "128"}));
  const auto t0 = Clock::now();
  const CmdResult socat = ns_.exec("socat -u OPEN:" + data + " TCP:" + kUstack + ":9");
  EXPECT_TRUE(socat.ok()) << socat.output;
  ASSERT_TRUE(wait_conn_lines(1, 30s)) << host_->out();
  const double secs = since(t0);
  std::filesystem::remove(data);
  const std::vector<std::string> lines = conn_lines(host_->out());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].starts_with("conn 1 192.0.2.1:")) << lines[0];
  EXPECT_NE(lines[0].find(" bytes " + std::to_string(n) + " sha256 " + want), std::string::npos)
      << lines[0] << "\nwant sha256 " << want;
  std::printf("[ info ] Linux -> ustack sink: %llu bytes in %.2f s (%.1f MB/s)\n",
              static_cast<unsigned long long>(n), secs, static_cast<double>(n) / secs / 1e6);
  std::string out;
  ASSERT_NO_FATAL_FAILURE(stop_tcp_host(&out));
}

TEST_F(LinuxTcp, BulkSourceToLinuxSocatDigestMatches) {
  const uint64_t n = bulk_bytes();
  CmdResult sink;
  std::thread listener;
  ASSERT_NO_FATAL_FAILURE(start_linux_sha_listener(&sink, &listener));
  const auto t0 = Clock::now();
  start_host_on_ready_tap({"--tcp-source", std::string(kLinux) + ":5001:" + std::to_string(n),
                           "--pcap-snaplen", "128"});
  listener.join();
  ASSERT_FALSE(HasFatalFailure());
  const std::string out = wait_host_exit(60s);
  const double secs = since(t0);
  EXPECT_EQ(host_->status(), 0) << host_->err();
  const std::string want = app::pattern_sha256(n);
  EXPECT_EQ(sink.output.substr(0, 64), want) << sink.output;
  const std::vector<std::string> lines = conn_lines(out);
  ASSERT_EQ(lines.size(), 1u) << out;
  EXPECT_EQ(lines[0], "conn 1 192.0.2.1:5001 bytes " + std::to_string(n) + " sha256 " + want);
  std::printf("[ info ] ustack source -> Linux: %llu bytes in %.2f s including start-up\n",
              static_cast<unsigned long long>(n), secs);
  EXPECT_EQ(host_->err().find("Sanitizer"), std::string::npos) << host_->err();
  expect_tcp_pcap_clean(pcap());
}

// ---- offload: --tap-offload (IFF_VNET_HDR + TUNSETOFFLOAD) -----------------------------------

// The GSO counters of the host's "tap NAME ..." line: {rx_gso_frames, rx_gso_bytes,
// tx_gso_frames, tx_gso_bytes}; all zero if the line is missing.
std::array<uint64_t, 4> gso_counters(const std::string& out) {
  std::array<uint64_t, 4> v{};
  const char* keys[] = {" rx_gso_frames ", " rx_gso_bytes ", " tx_gso_frames ", " tx_gso_bytes "};
  const size_t line = out.find("\ntap ");
  if (line == std::string::npos) return v;
  for (size_t i = 0; i < v.size(); ++i) {
    const size_t at = out.find(keys[i], line);
    if (at != std::string::npos) v[i] = std::stoull(out.substr(at + std::strlen(keys[i])));
  }
  return v;
}

constexpr uint64_t kOffloadBytes = 64ull << 20;

// Linux's TCP sends TSO frames into the TAP: ustack reads them whole (GSO frames longer than
// the MTU counted in TapStats), takes each as one large segment, and the digest matches.
TEST_F(LinuxTcp, BulkOffloadLinuxSocatToSinkGsoFramesCrossWhole) {
  const uint64_t n = kOffloadBytes;
  const std::string data = dir_.file("data");
  ASSERT_TRUE(run_cmd("head -c " + std::to_string(n) + " /dev/urandom > " + data).ok());
  const CmdResult sum = run_cmd("sha256sum < " + data);
  ASSERT_TRUE(sum.ok());
  const std::string want = sum.output.substr(0, 64);
  ASSERT_NO_FATAL_FAILURE(
      start_host({"--tap-offload", "--tcp-sink", "9", "--pcap-snaplen", "128"}));
  const auto t0 = Clock::now();
  const CmdResult socat = ns_.exec("socat -u OPEN:" + data + " TCP:" + kUstack + ":9");
  EXPECT_TRUE(socat.ok()) << socat.output;
  ASSERT_TRUE(wait_conn_lines(1, 30s)) << host_->out();
  const double secs = since(t0);
  std::filesystem::remove(data);
  const std::vector<std::string> lines = conn_lines(host_->out());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(" bytes " + std::to_string(n) + " sha256 " + want), std::string::npos)
      << lines[0] << "\nwant sha256 " << want;
  ASSERT_TRUE(host_->stop(SIGINT));
  const std::string out = host_->out();
  EXPECT_EQ(host_->status(), 0) << host_->err();
  const auto g = gso_counters(out);
  EXPECT_GT(g[0], 0u) << out;
  EXPECT_GT(g[1], g[0] * 1514) << "received GSO frames average more than one MTU-sized frame";
  // The capture records the frames as they crossed the device (like tcpdump on a TSO NIC).
  EXPECT_GT(tshark_count(pcap(), "ip.src == 192.0.2.1 && frame.len > 1514"), 0);
  std::printf(
      "[ info ] offload: Linux -> ustack sink: %llu bytes in %.2f s (%.1f MB/s), "
      "%llu GSO frames read (avg %llu bytes)\n",
      static_cast<unsigned long long>(n), secs, static_cast<double>(n) / secs / 1e6,
      static_cast<unsigned long long>(g[0]),
      static_cast<unsigned long long>(g[0] ? g[1] / g[0] : 0));
}

// ustack's TCP builds TSO frames for the offloading TAP: the kernel takes them whole (its TCP
// receives them as one GRO-like segment), the digest matches and TapStats count them.
TEST_F(LinuxTcp, BulkOffloadSourceToLinuxSocatTsoFramesCrossWhole) {
  const uint64_t n = kOffloadBytes;
  CmdResult sink;
  std::thread listener;
  ASSERT_NO_FATAL_FAILURE(start_linux_sha_listener(&sink, &listener));
  const auto t0 = Clock::now();
  start_host_on_ready_tap({"--tap-offload", "--tcp-source",
                           std::string(kLinux) + ":5001:" + std::to_string(n), "--pcap-snaplen",
                           "128"});
  listener.join();
  ASSERT_FALSE(HasFatalFailure());
  const std::string out = wait_host_exit(60s);
  const double secs = since(t0);
  EXPECT_EQ(host_->status(), 0) << host_->err();
  const std::vector<std::string> lines = conn_lines(out);
  ASSERT_EQ(lines.size(), 1u) << out;
  EXPECT_EQ(lines[0], "conn 1 192.0.2.1:5001 bytes " + std::to_string(n) + " sha256 " +
                          sink.output.substr(0, 64));
  EXPECT_EQ(sink.output.substr(0, 64), app::pattern_sha256(n)) << sink.output;
  const auto g = gso_counters(out);
  EXPECT_GT(g[2], 0u) << out;
  EXPECT_GT(g[3], g[2] * 1514) << "sent GSO frames average more than one MTU-sized frame";
  EXPECT_GT(tshark_count(pcap(), "ip.src == 192.0.2.2 && frame.len > 1514"), 0);
  std::printf(
      "[ info ] offload: ustack source -> Linux: %llu bytes in %.2f s including start-up, "
      "%llu TSO frames written (avg %llu bytes)\n",
      static_cast<unsigned long long>(n), secs, static_cast<unsigned long long>(g[2]),
      static_cast<unsigned long long>(g[2] ? g[3] / g[2] : 0));
}
// ---- impaired: kernel sockets of this test on the Linux side ----------------------------------

void LinuxTcp::sink_test(const std::vector<std::string>& impair, double wall_limit_s,
                         double gap_limit_s) {
  const uint64_t n = bulk_bytes();
  std::vector<std::string> args = {"--tcp-sink", "9", "--pcap-snaplen", "128"};
  args.insert(args.end(), impair.begin(), impair.end());
  ASSERT_NO_FATAL_FAILURE(start_host(args));
  const int fd = ns_socket(true);
  ASSERT_EQ(connect_ustack(fd, 9), "");
  const auto deadline = Clock::now() + std::chrono::milliseconds(int64_t(wall_limit_s * 1000));
  const Transfer t = send_pattern(fd, n, deadline);
  ::close(fd);
  EXPECT_EQ(t.error, "");
  EXPECT_EQ(t.bytes, n);
  EXPECT_LT(t.seconds, wall_limit_s);
  EXPECT_LT(t.max_gap, gap_limit_s) << "the transfer stalled";
  std::printf("[ info ] Linux -> ustack sink: %llu bytes in %.2f s, longest pause %.3f s\n",
              static_cast<unsigned long long>(t.bytes), t.seconds, t.max_gap);
  ASSERT_TRUE(wait_conn_lines(1, 10s)) << host_->out();
  const std::vector<std::string> lines = conn_lines(host_->out());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(" bytes " + std::to_string(n) + " sha256 " + t.sha256), std::string::npos)
      << lines[0] << "\nwant " << t.sha256;
  std::string out;
  ASSERT_NO_FATAL_FAILURE(stop_tcp_host(&out));
  EXPECT_NE(out.find("impair " + tap_ + " rx: frames"), std::string::npos) << out;
}

void LinuxTcp::source_test(const std::vector<std::string>& impair, double wall_limit_s,
                           double gap_limit_s) {
  const uint64_t n = bulk_bytes();
  const int lfd = ns_listener(5001);
  std::vector<std::string> args = {
      "--tcp-source", std::string(kLinux) + ":5001:" + std::to_string(n), "--pcap-snaplen", "128"};
  args.insert(args.end(), impair.begin(), impair.end());
  const auto deadline = Clock::now() + std::chrono::milliseconds(int64_t(wall_limit_s * 1000));
  Transfer t;
  std::thread rx([&] { t = receive_all(lfd, deadline); });
  start_host_on_ready_tap(args);
  rx.join();
  ::close(lfd);
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(t.error, "");
  EXPECT_EQ(t.bytes, n);
  EXPECT_EQ(t.sha256, app::pattern_sha256(n));
  EXPECT_LT(t.seconds, wall_limit_s);
  EXPECT_LT(t.max_gap, gap_limit_s) << "the transfer stalled";
  std::printf("[ info ] ustack source -> Linux: %llu bytes in %.2f s, longest pause %.3f s\n",
              static_cast<unsigned long long>(t.bytes), t.seconds, t.max_gap);
  const std::string out = wait_host_exit(30s);
  EXPECT_EQ(host_->status(), 0) << host_->err();
  EXPECT_NE(out.find("conn 1 192.0.2.1:5001 bytes " + std::to_string(n) + " sha256 " +
                     app::pattern_sha256(n)),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("impair " + tap_ + " tx: frames"), std::string::npos) << out;
  EXPECT_EQ(host_->err().find("Sanitizer"), std::string::npos) << host_->err();
  expect_tcp_pcap_clean(pcap());
}

// A pause longer than 0.2+0.4+0.8+1.6+3.2 s would need the same segment (or its ACK) lost
// five times in a row: at 2 % that is a stall, not bad luck.
constexpr double kGapLimit = 6.0;
constexpr double kWallLimit = 300.0;

TEST_F(LinuxTcp, BulkLinuxToSinkThroughTwoPercentLoss) {
  sink_test({"--impair", "loss=2%"}, kWallLimit, kGapLimit);
}
TEST_F(LinuxTcp, BulkSourceToLinuxThroughTwoPercentLoss) {
  source_test({"--impair", "loss=2%"}, kWallLimit, kGapLimit);
}
TEST_F(LinuxTcp, BulkLinuxToSinkThroughFivePercentReordering) {
  sink_test({"--impair", tap_ + ":reorder=5%"}, kWallLimit, kGapLimit);  // TAP:SPEC form
}
TEST_F(LinuxTcp, BulkSourceToLinuxThroughFivePercentReordering) {
  source_test({"--impair", "reorder=5%"}, kWallLimit, kGapLimit);
}

// ---- echo: many connections -------------------------------------------------------------------

// Payload of connection i: its number and bytes that depend on it.
std::string echo_payload(int i) {
  std::string s = "conn " + std::to_string(i) + " ";
  for (int k = 0; k < 64; ++k) s.push_back(static_cast<char>('a' + (i * 7 + k * 13) % 26));
  return s;
}

// Sends the payload on a connected non-blocking socket, half-closes, reads the echo to EOF.
std::string echo_once(int fd, const std::string& payload) {
  if (::send(fd, payload.data(), payload.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(payload.size()))
    return errno_text("send");
  ::shutdown(fd, SHUT_WR);
  std::string got;
  const auto deadline = Clock::now() + 5s;
  char buf[4096];
  while (Clock::now() < deadline) {
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r == 0) return got == payload ? "" : "echo differs: '" + got + "'";
    if (r > 0) {
      got.append(buf, static_cast<size_t>(r));
      continue;
    }
    if (errno != EAGAIN && errno != EINTR) return errno_text("recv");
    wait_fd(fd, POLLIN, deadline);
  }
  return "no EOF within 5 s";
}

TEST_F(LinuxTcp, EchoTwoThousandSequentialThenFiveHundredConcurrent) {
  ASSERT_NO_FATAL_FAILURE(start_host({"--tcp-echo", "7", "--tcp-time-wait-ms", "1000"}));
  const auto t0 = Clock::now();
  int ok = 0;
  std::string first_error;
  for (int i = 0; i < 2000; ++i) {
    const int fd = ns_socket(true);
    std::string e = connect_ustack(fd, 7);
    if (e.empty()) e = echo_once(fd, echo_payload(i));
    ::close(fd);
    if (e.empty()) {
      ++ok;
    } else if (first_error.empty()) {
      first_error = "connection " + std::to_string(i) + ": " + e;
    }
  }
  EXPECT_EQ(ok, 2000) << first_error;
  std::printf("[ info ] 2000 sequential echo connections in %.2f s\n", since(t0));

  // 500 at once: connect all, then exchange on each, then close all.
  std::vector<int> fds;
  int connected = 0;
  for (int i = 0; i < 500; ++i) {
    fds.push_back(ns_socket(true));
    connected += connect_ustack(fds.back(), 7).empty();
  }
  EXPECT_EQ(connected, 500);
  int echoed = 0;
  first_error.clear();
  for (size_t i = 0; i < fds.size(); ++i) {
    const std::string e = echo_once(fds[i], echo_payload(10000 + static_cast<int>(i)));
    echoed += e.empty();
    if (!e.empty() && first_error.empty()) first_error = e;
  }
  EXPECT_EQ(echoed, 500) << first_error;
  for (int fd : fds) ::close(fd);

  // TIME-WAIT is 1 s; Linux closed first, so ustack's sockets go through LAST-ACK. Give both
  // some slack, then only the listener may be left.
  std::this_thread::sleep_for(2500ms);
  std::string out;
  ASSERT_NO_FATAL_FAILURE(stop_tcp_host(&out));
  EXPECT_NE(out.find("tcp sockets 1 requests 0"), std::string::npos) << out;
  EXPECT_NE(out.find("tcp-echo :7 accepted 2500 completed 2500 errors 0 open 0"), std::string::npos)
      << out;
  EXPECT_EQ(snmp_value(out, "Tcp", "CurrEstab"), 0u);
  EXPECT_EQ(snmp_value(out, "Tcp", "PassiveOpens"), 2500u);
  EXPECT_EQ(snmp_value(out, "Tcp", "AttemptFails"), 0u);
  EXPECT_EQ(snmp_value(out, "Tcp", "EstabResets"), 0u);
}

// ---- refused and overflow ----------------------------------------------------------------------

TEST_F(LinuxTcp, ClosedPortIsRefusedBothWays) {
  ASSERT_NO_FATAL_FAILURE(start_host({"--tcp-echo", "7"}));
  // Linux -> ustack:4444 (nothing listens): RST, ECONNREFUSED.
  const int fd = ns_socket(true);
  EXPECT_EQ(connect_ustack(fd, 4444), std::string("connect: ") + std::strerror(ECONNREFUSED));
  ::close(fd);
  std::string out;
  ASSERT_NO_FATAL_FAILURE(stop_tcp_host(&out));
  EXPECT_GE(snmp_value(out, "Tcp", "OutRsts").value_or(0), 1u) << out;

  // ustack -> Linux:4445 (nothing listens): exit 1 naming ECONNREFUSED.
  std::filesystem::remove(pcap());
  ASSERT_NO_FATAL_FAILURE(
      start_host_on_ready_tap({"--tcp-source", std::string(kLinux) + ":4445:1000"}));
  const std::string out2 = wait_host_exit(20s);
  EXPECT_EQ(host_->status(), 1) << host_->err();
  EXPECT_NE(host_->err().find("ECONNREFUSED"), std::string::npos) << host_->err();
  EXPECT_NE(out2.find("conn 1 192.0.2.1:4445 bytes 0 sha256 "), std::string::npos) << out2;
  EXPECT_NE(out2.find("error ECONNREFUSED"), std::string::npos) << out2;
  expect_tcp_pcap_clean(pcap());
}

// A listener that never accepts with backlog 2: tcp.h's rules bound the accept queue by the
// backlog; connections beyond it are dropped or answered with SYN cookies, and counted.
TEST_F(LinuxTcp, ListenQueueOverflowIsBoundedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(
      start_host({"--tcp-sink", "9", "--tcp-backlog", "2", "--tcp-pause-accept"}));
  std::vector<int> fds;
  for (int i = 0; i < 10; ++i) {
    fds.push_back(ns_socket(true));
    sockaddr_in sa = sockaddr_of(kUstack, 9);
    ::connect(fds.back(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }
  std::this_thread::sleep_for(1500ms);  // SYN and SYN-ACK retransmissions happen meanwhile
  std::string out;
  ASSERT_NO_FATAL_FAILURE(stop_tcp_host(&out));
  for (int fd : fds) ::close(fd);
  const auto ext = snmp_group(out, "TcpExt");
  ASSERT_FALSE(ext.empty()) << out;
  const uint64_t overflow = ext.count("ListenOverflows") ? ext.at("ListenOverflows") : 0;
  const uint64_t drops = ext.count("ListenDrops") ? ext.at("ListenDrops") : 0;
  const uint64_t cookies = ext.count("SyncookiesSent") ? ext.at("SyncookiesSent") : 0;
  EXPECT_GT(overflow + drops + cookies, 0u) << out;
  EXPECT_GE(drops, overflow) << "Linux counts every ListenOverflow as a ListenDrop too";
  EXPECT_NE(out.find("tcp-sink :9 accepted 0 "), std::string::npos) << out;
  // The listener and at most `backlog` established children (+1: Linux's accept queue check is
  // "more than backlog", sk_acceptq_is_full).
  const size_t at = out.find("\ntcp sockets ");
  ASSERT_NE(at, std::string::npos) << out;
  EXPECT_LE(std::stoul(out.substr(at + 13)), 1u + 3u) << out;
  // The `ss` LISTEN line: Recv-Q is the accept queue, Send-Q the backlog.
  const size_t l = out.find("\nLISTEN ");
  ASSERT_NE(l, std::string::npos) << out;
  std::istringstream listen_line(out.substr(l + 1, out.find('\n', l + 1) - l - 1));
  std::string state;
  size_t recv_q = 0, send_q = 0;
  listen_line >> state >> recv_q >> send_q;
  EXPECT_EQ(send_q, 2u) << out;
  EXPECT_LE(recv_q, send_q) << out;
  EXPECT_GE(recv_q, 1u) << out;
}

// ---- arguments (no root needed) ----------------------------------------------------------------

TEST(HostTcpCli, BadTcpArgumentsExitTwoWithOneLine) {
  const char* cases[] = {
      "--impair loss=2",                      // no %
      "--impair bogus=1%",                    // unknown key
      "--impair utapnone:loss=1%",            // no such tap
      "--impair loss=1% --impair delay=1ms",  // two for every tap
      "--tcp-source 192.0.2.1:5001",          // two fields
      "--tcp-source 192.0.2.1:0:10",          // port 0
      "--tcp-source 192.0.2.1:80:10X",        // bad suffix
      "--tcp-source 224.0.0.1:80:10",         // multicast
      "--tcp-echo 7 --tcp-sink 7",            // one port, two services
      "--tcp-backlog 0",                      // out of range
      "--tcp-time-wait-ms 0",                 // out of range
      "--pcap-snaplen 10",                    // out of range
  };
  for (const char* c : cases) {
    testtools::ScratchDir dir;
    const CmdResult r =
        run_cmd(shell_quote(ustack_bin()) + " host --tap utapx --addr 192.0.2.2/24 " + c + " 2>" +
                dir.file("err") + " >/dev/null </dev/null");
    EXPECT_EQ(r.status, 2) << c;
    const std::string err = slurp(dir.file("err"));
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << c << ": " << err;
  }
}

}  // namespace
}  // namespace ustack::interop
