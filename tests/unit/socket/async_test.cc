// The asynchronous model (model 5) with completion callbacks: submit_accept / submit_connect /
// submit_recv / submit_send / cancel on one host over its loopback path, on a virtual clock
// (async_host.h), plus one run under the real-time runner (rt_host.h).
#include <fcntl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "unit/socket/async_host.h"
#include "unit/socket/rt_host.h"

namespace ustack::socket::test {
namespace {

constexpr int64_t kPending = 1LL << 62;  // "no completion yet"

// A listener on 10.0.0.1:port.
Fd listen_on(SocketLayer& api, uint16_t port, int backlog = 128) {
  const Fd l = api.socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GT(l, 0);
  EXPECT_EQ(api.bind(l, addr_in(kLoopAddr, port)), 0);
  EXPECT_EQ(api.listen(l, backlog), 0);
  return l;
}

// A connected pair (client, server side) made with async connect and accept.
struct Pair {
  Fd client = -1, server = -1;
};
Pair connect_pair(ManualHost& h, uint16_t port) {
  SocketLayer& api = h.api();
  const Fd l = listen_on(api, port);
  Pair p;
  p.client = api.socket(AF_INET, SOCK_STREAM, 0);
  int64_t acc = kPending, con = kPending;
  EXPECT_GT(api.submit_accept(l, nullptr, [&](int64_t r) { acc = r; }), 0);
  EXPECT_GT(api.submit_connect(p.client, addr_in(kLoopAddr, port), [&](int64_t r) { con = r; }), 0);
  EXPECT_TRUE(h.run_until([&] { return acc != kPending && con != kPending; }));
  EXPECT_EQ(con, 0);
  EXPECT_GT(acc, 0);
  p.server = acc;
  EXPECT_EQ(api.close(l), 0);
  return p;
}

std::span<const uint8_t> bytes(const char* s) {
  return {reinterpret_cast<const uint8_t*>(s), std::strlen(s)};
}

TEST(Async, EchoWithCallbacks) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd l = listen_on(api, 7000);
  const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);

  std::vector<uint8_t> srv_buf(64), cli_buf(64);
  sockaddr_in peer{};
  Fd accepted = -1;
  int64_t echoed = kPending, got = kPending;
  bool in_submit = false;

  ASSERT_GT(api.submit_accept(
                l, &peer,
                [&](int64_t fd) {
                  EXPECT_FALSE(in_submit);
                  ASSERT_GT(fd, 0);
                  accepted = fd;
                  // Receive, then echo what came (re-entrant submits).
                  ASSERT_GT(api.submit_recv(fd, srv_buf, 0,
                                            [&](int64_t n) {
                                              ASSERT_GT(n, 0);
                                              api.submit_send(accepted, {srv_buf.data(), size_t(n)},
                                                              0, [&](int64_t r) { echoed = r; });
                                            }),
                            0);
                }),
            0);
  in_submit = true;
  const int64_t id = api.submit_connect(c, addr_in(kLoopAddr, 7000), [&](int64_t r) {
    EXPECT_FALSE(in_submit);
    ASSERT_EQ(r, 0);
    api.submit_send(c, bytes("hello, async"), 0, [&](int64_t n) { EXPECT_EQ(n, 12); });
    api.submit_recv(c, cli_buf, 0, [&](int64_t n) { got = n; });
  });
  in_submit = false;
  ASSERT_GT(id, 0);
  // Nothing completes inside submit; the stack reports work so its driver comes back.
  EXPECT_TRUE(api.has_work());
  EXPECT_EQ(h.stack.next_deadline(), Instant::zero());

  ASSERT_TRUE(h.run_until([&] { return got != kPending; }));
  EXPECT_EQ(got, 12);
  EXPECT_EQ(echoed, 12);
  EXPECT_EQ(std::string(cli_buf.begin(), cli_buf.begin() + 12), "hello, async");
  EXPECT_EQ(ntohl(peer.sin_addr.s_addr), kLoopAddr);
  EXPECT_NE(api.fcntl(accepted, F_GETFL) & O_NONBLOCK, 0);  // accepted non-blocking
  EXPECT_EQ(api.stats().async_completed, 6u);
  EXPECT_EQ(api.stats().async_cancelled, 0u);
  h.run_for(Duration::ms(10));
  EXPECT_FALSE(api.has_work());
}

TEST(Async, LargeTransferIsByteIdentical) {
  ManualHost h;
  SocketLayer& api = h.api();
  Pair p = connect_pair(h, 7001);
  std::vector<uint8_t> sent(1 << 20);
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<uint8_t>(i * 7 + (i >> 13));
  std::vector<uint8_t> got, buf(65536);
  bool eof = false;
  int64_t send_res = kPending;

  std::function<void(int64_t)> on_recv = [&](int64_t n) {
    ASSERT_GE(n, 0);
    if (n == 0) {
      eof = true;
      return;
    }
    got.insert(got.end(), buf.begin(), buf.begin() + n);
    ASSERT_GT(api.submit_recv(p.server, buf, 0, on_recv), 0);
  };
  ASSERT_GT(api.submit_recv(p.server, buf, 0, on_recv), 0);
  // One send of 1 MiB: it completes once every byte is queued, after many wakeups.
  ASSERT_GT(api.submit_send(p.client, sent, 0,
                            [&](int64_t r) {
                              send_res = r;
                              EXPECT_EQ(api.shutdown(p.client, SHUT_WR), 0);
                            }),
            0);
  ASSERT_TRUE(h.run_until([&] { return eof; }));
  EXPECT_EQ(send_res, static_cast<int64_t>(sent.size()));
  EXPECT_TRUE(got == sent);
}

TEST(Async, WaitallPeekAndDontwait) {
  ManualHost h;
  SocketLayer& api = h.api();
  Pair p = connect_pair(h, 7002);
  std::vector<uint8_t> peek(4), all(10), nb(4);
  int64_t rp = kPending, ra = kPending, rn = kPending;
  // MSG_DONTWAIT with nothing queued: -EAGAIN at its first try.
  ASSERT_GT(api.submit_recv(p.server, nb, MSG_DONTWAIT, [&](int64_t r) { rn = r; }), 0);
  ASSERT_TRUE(h.run_until([&] { return rn != kPending; }));
  EXPECT_EQ(rn, -EAGAIN);

  ASSERT_GT(api.submit_recv(p.server, peek, MSG_PEEK, [&](int64_t r) { rp = r; }), 0);
  ASSERT_GT(api.submit_recv(p.server, all, MSG_WAITALL, [&](int64_t r) { ra = r; }), 0);
  ASSERT_GT(api.submit_send(p.client, bytes("0123"), 0, [](int64_t) {}), 0);
  ASSERT_TRUE(h.run_until([&] { return rp != kPending; }));
  EXPECT_EQ(rp, 4);
  EXPECT_EQ(std::string(peek.begin(), peek.end()), "0123");
  h.run_for(Duration::ms(50));
  EXPECT_EQ(ra, kPending);  // 4 of 10 bytes: MSG_WAITALL keeps waiting
  ASSERT_GT(api.submit_send(p.client, bytes("456789"), 0, [](int64_t) {}), 0);
  ASSERT_TRUE(h.run_until([&] { return ra != kPending; }));
  EXPECT_EQ(ra, 10);  // the peeked bytes were still there
  EXPECT_EQ(std::string(all.begin(), all.end()), "0123456789");
}

TEST(Async, HundredConcurrentConnections) {
  ManualHost h;
  SocketLayer& api = h.api();
  constexpr int kConns = 100;
  constexpr size_t kMsg = 3000;
  const Fd l = listen_on(api, 7003, 256);

  struct Server {
    Fd fd = -1;
    std::vector<uint8_t> buf = std::vector<uint8_t>(1024);
  };
  std::vector<std::unique_ptr<Server>> servers;
  // Echo until end of stream, then close.
  std::function<void(Server*)> serve = [&](Server* s) {
    api.submit_recv(s->fd, s->buf, 0, [&, s](int64_t n) {
      if (n <= 0) {
        api.close(s->fd);
        return;
      }
      api.submit_send(s->fd, {s->buf.data(), size_t(n)}, 0, [&, s](int64_t r) {
        if (r > 0) serve(s);
      });
    });
  };
  std::function<void(int64_t)> on_accept = [&](int64_t fd) {
    if (fd < 0) return;
    servers.push_back(std::make_unique<Server>());
    servers.back()->fd = fd;
    serve(servers.back().get());
    api.submit_accept(l, nullptr, on_accept);
  };
  ASSERT_GT(api.submit_accept(l, nullptr, on_accept), 0);

  struct Client {
    Fd fd = -1;
    std::vector<uint8_t> out, in;
    bool done = false;
  };
  std::vector<Client> clients(kConns);
  int finished = 0;
  for (int i = 0; i < kConns; ++i) {
    Client& c = clients[size_t(i)];
    c.fd = api.socket(AF_INET, SOCK_STREAM, 0);
    c.out.resize(kMsg);
    for (size_t k = 0; k < kMsg; ++k) c.out[k] = static_cast<uint8_t>(i + k);
    c.in.resize(kMsg);
    ASSERT_GT(api.submit_connect(c.fd, addr_in(kLoopAddr, 7003),
                                 [&, i](int64_t r) {
                                   ASSERT_EQ(r, 0) << "client " << i;
                                   Client& cc = clients[size_t(i)];
                                   api.submit_send(cc.fd, cc.out, 0, [](int64_t) {});
                                   api.submit_recv(cc.fd, cc.in, MSG_WAITALL, [&, i](int64_t n) {
                                     Client& c3 = clients[size_t(i)];
                                     EXPECT_EQ(n, int64_t(kMsg));
                                     c3.done = true;
                                     ++finished;
                                     api.close(c3.fd);
                                   });
                                 }),
              0);
  }
  ASSERT_TRUE(h.run_until([&] { return finished == kConns; }));
  for (const Client& c : clients) EXPECT_TRUE(c.out == c.in);
  EXPECT_EQ(servers.size(), size_t(kConns));
  // The servers see the clients' FIN and close; the accept stays pending until close(l).
  h.run_for(Duration::s(1));
  EXPECT_EQ(api.close(l), 0);
  h.run_for(Duration::ms(10));
  EXPECT_EQ(api.stats().async_cancelled, 1u);
}

TEST(Async, PeerResetCompletesWithEconnreset) {
  ManualHost h;
  SocketLayer& api = h.api();
  Pair p = connect_pair(h, 7004);
  std::vector<uint8_t> buf(16);
  int64_t r = kPending;
  ASSERT_GT(api.submit_recv(p.client, buf, 0, [&](int64_t n) { r = n; }), 0);
  h.run_for(Duration::ms(10));
  EXPECT_EQ(r, kPending);
  const linger lg{1, 0};  // close() sends RST
  ASSERT_EQ(api.setsockopt(p.server, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  ASSERT_EQ(api.close(p.server), 0);
  ASSERT_TRUE(h.run_until([&] { return r != kPending; }));
  EXPECT_EQ(r, -ECONNRESET);
  // The connection is gone: a send now fails with EPIPE (the error was reported once).
  int64_t s = kPending;
  ASSERT_GT(api.submit_send(p.client, bytes("x"), 0, [&](int64_t n) { s = n; }), 0);
  ASSERT_TRUE(h.run_until([&] { return s != kPending; }));
  EXPECT_EQ(s, -EPIPE);
}

TEST(Async, CloseCompletesPendingOperationsWithEcanceled) {
  ManualHost h;
  SocketLayer& api = h.api();
  Pair p = connect_pair(h, 7005);
  const Fd l = listen_on(api, 7006);
  std::vector<uint8_t> a(8), b(8);
  std::vector<int64_t> res;
  bool in_close = false;
  auto note = [&](int64_t r) {
    EXPECT_FALSE(in_close);
    res.push_back(r);
  };
  ASSERT_GT(api.submit_recv(p.client, a, 0, note), 0);
  ASSERT_GT(api.submit_recv(p.client, b, 0, note), 0);
  ASSERT_GT(api.submit_accept(l, nullptr, note), 0);
  h.run_for(Duration::ms(10));
  EXPECT_TRUE(res.empty());
  in_close = true;
  EXPECT_EQ(api.close(p.client), 0);
  EXPECT_EQ(api.close(l), 0);
  in_close = false;
  EXPECT_TRUE(res.empty());  // delivered later, from Stack::poll
  EXPECT_TRUE(api.has_work());
  ASSERT_TRUE(h.run_until([&] { return res.size() == 3; }));
  EXPECT_EQ(res, (std::vector<int64_t>{-ECANCELED, -ECANCELED, -ECANCELED}));
  EXPECT_EQ(api.stats().async_cancelled, 3u);
  // The handle is dead: submissions fail at once.
  EXPECT_EQ(api.submit_recv(p.client, a, 0, note), -EBADF);
}

TEST(Async, CancelOneOperation) {
  ManualHost h;
  SocketLayer& api = h.api();
  Pair p = connect_pair(h, 7007);
  std::vector<uint8_t> a(8), b(8);
  int64_t ra = kPending, rb = kPending;
  const int64_t ida = api.submit_recv(p.client, a, 0, [&](int64_t r) { ra = r; });
  const int64_t idb = api.submit_recv(p.client, b, 0, [&](int64_t r) { rb = r; });
  ASSERT_GT(ida, 0);
  ASSERT_GT(idb, 0);
  EXPECT_NE(ida, idb);
  h.run_for(Duration::ms(10));
  EXPECT_EQ(api.cancel(ida), 0);
  EXPECT_EQ(ra, kPending);  // not inside cancel
  EXPECT_EQ(api.cancel(ida), -ENOENT);
  ASSERT_TRUE(h.run_until([&] { return ra != kPending; }));
  EXPECT_EQ(ra, -ECANCELED);
  // The second receive moved up: it gets the data.
  ASSERT_GT(api.submit_send(p.server, bytes("data"), 0, [](int64_t) {}), 0);
  ASSERT_TRUE(h.run_until([&] { return rb != kPending; }));
  EXPECT_EQ(rb, 4);
  EXPECT_EQ(api.cancel(idb), -ENOENT);  // finished
  EXPECT_EQ(api.cancel(0), -ENOENT);
  EXPECT_EQ(api.cancel(-5), -ENOENT);
  EXPECT_EQ(api.cancel(int64_t{1} << 40), -ENOENT);
  // A slot reused by a new operation does not answer to the old id.
  int64_t rc = kPending;
  const int64_t idc = api.submit_recv(p.client, a, 0, [&](int64_t r) { rc = r; });
  EXPECT_NE(idc, ida);
  EXPECT_EQ(api.cancel(ida), -ENOENT);
  EXPECT_EQ(api.cancel(idc), 0);
  ASSERT_TRUE(h.run_until([&] { return rc != kPending; }));
  EXPECT_EQ(api.stats().async_cancelled, 2u);
}

TEST(Async, ConnectRefused) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);
  std::vector<uint8_t> buf(4);
  int64_t rc = kPending, rs = kPending;
  ASSERT_GT(api.submit_connect(c, addr_in(kLoopAddr, 1), [&](int64_t r) { rc = r; }), 0);
  // A send queued behind the connect is tried only once the connect is over.
  ASSERT_GT(api.submit_send(c, bytes("x"), 0, [&](int64_t r) { rs = r; }), 0);
  ASSERT_TRUE(h.run_until([&] { return rc != kPending && rs != kPending; }));
  EXPECT_EQ(rc, -ECONNREFUSED);
  EXPECT_LT(rs, 0);
}

TEST(Async, CompletionsFollowSubmissionOrderPerDirection) {
  ManualHost h;
  SocketLayer& api = h.api();
  Pair p = connect_pair(h, 7008);
  std::vector<std::string> order;
  std::vector<std::vector<uint8_t>> bufs(3, std::vector<uint8_t>(4));
  for (int i = 0; i < 3; ++i) {
    ASSERT_GT(api.submit_recv(p.server, bufs[size_t(i)], MSG_WAITALL,
                              [&, i](int64_t r) {
                                EXPECT_EQ(r, 4);
                                // (not "r" + to_string: GCC 12's -Wrestrict false positive)
                                order.push_back(std::string(1, 'r') += std::to_string(i));
                              }),
              0);
  }
  // Three sends; the second is larger than the send buffer, so it takes several wakeups, and
  // the third must not overtake it.
  std::vector<uint8_t> big(400'000, 'b');
  std::vector<uint8_t> drain(big.size());
  const int sndbuf = 16384;
  ASSERT_EQ(api.setsockopt(p.client, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
  ASSERT_GT(api.submit_send(p.client, bytes("AAAA"), 0, [&](int64_t) { order.push_back("s0"); }),
            0);
  ASSERT_GT(api.submit_send(p.client, big, 0, [&](int64_t) { order.push_back("s1"); }), 0);
  ASSERT_GT(
      api.submit_send(p.client, bytes("CCCCDDDD"), 0, [&](int64_t) { order.push_back("s2"); }), 0);
  ASSERT_TRUE(h.run_until([&] { return order.size() >= 3; }));
  EXPECT_EQ(order[0], "s0");
  EXPECT_EQ(order[1], "r0");
  EXPECT_EQ(std::string(bufs[0].begin(), bufs[0].end()), "AAAA");
  // Drain the big send on the server with one MSG_WAITALL receive after r1 and r2.
  size_t total = 0;
  ASSERT_GT(api.submit_recv(p.server, {drain.data(), big.size()}, MSG_WAITALL,
                            [&](int64_t r) { total = size_t(r); }),
            0);
  ASSERT_TRUE(h.run_until([&] { return order.size() == 6 && total > 0; }));
  EXPECT_EQ(order, (std::vector<std::string>{"s0", "r0", "r1", "r2", "s1", "s2"}));
  EXPECT_EQ(std::string(bufs[1].begin(), bufs[1].end()), "bbbb");
}

// An operation waits for its turn: a MSG_DONTWAIT receive behind a pending one is tried (and
// fails with -EAGAIN) only after the earlier one completed.
TEST(Async, DontwaitWaitsItsTurn) {
  ManualHost h;
  SocketLayer& api = h.api();
  Pair p = connect_pair(h, 7012);
  std::vector<uint8_t> a(8), b(8);
  std::vector<std::pair<char, int64_t>> order;
  ASSERT_GT(api.submit_recv(p.server, a, 0, [&](int64_t r) { order.emplace_back('a', r); }), 0);
  ASSERT_GT(
      api.submit_recv(p.server, b, MSG_DONTWAIT, [&](int64_t r) { order.emplace_back('b', r); }),
      0);
  h.run_for(Duration::ms(20));
  EXPECT_TRUE(order.empty());
  ASSERT_GT(api.submit_send(p.client, bytes("xy"), 0, [](int64_t) {}), 0);
  ASSERT_TRUE(h.run_until([&] { return order.size() == 2; }));
  EXPECT_EQ(order, (std::vector<std::pair<char, int64_t>>{{'a', 2}, {'b', -EAGAIN}}));
}

TEST(Async, SubmissionErrors) {
  ManualHost h;
  SocketLayer& api = h.api();
  std::vector<uint8_t> buf(4);
  auto nop = [](int64_t) {};
  const Fd u = api.socket(AF_INET, SOCK_DGRAM, 0);
  const Fd t = api.socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_EQ(api.submit_recv(12345, buf, 0, nop), -EBADF);
  EXPECT_EQ(api.submit_accept(u, nullptr, nop), -EOPNOTSUPP);
  EXPECT_EQ(api.submit_recv(t, buf, MSG_OOB, nop), -EOPNOTSUPP);
  EXPECT_EQ(api.submit_send(t, buf, MSG_OOB, nop), -EOPNOTSUPP);
  EXPECT_EQ(api.submit_recv(t, buf, 0, nullptr), -EINVAL);
  sockaddr_in bad = addr_in(kLoopAddr, 80);
  bad.sin_family = AF_UNIX;
  EXPECT_EQ(api.submit_connect(t, bad, nop), -EAFNOSUPPORT);
  // Valid submissions whose operation fails: the error comes as the completion.
  int64_t acc = kPending, rcv = kPending;
  ASSERT_GT(api.submit_accept(t, nullptr, [&](int64_t r) { acc = r; }), 0);  // not listening
  ASSERT_TRUE(h.run_until([&] { return acc != kPending; }));
  EXPECT_EQ(acc, -EINVAL);
  ASSERT_GT(api.submit_recv(t, buf, 0, [&](int64_t r) { rcv = r; }), 0);  // not connected
  ASSERT_TRUE(h.run_until([&] { return rcv != kPending; }));
  EXPECT_EQ(rcv, -ENOTCONN);
  EXPECT_EQ(api.stats().async_completed, 2u);
}

TEST(Async, UdpDatagrams) {
  ManualHost h;
  SocketLayer& api = h.api();
  const Fd a = api.socket(AF_INET, SOCK_DGRAM, 0);
  const Fd b = api.socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(api.bind(b, addr_in(kLoopAddr, 9100)), 0);
  std::vector<uint8_t> buf(64);
  int64_t con = kPending, sent = kPending, got = kPending;
  ASSERT_GT(api.submit_recv(b, buf, 0, [&](int64_t r) { got = r; }), 0);
  ASSERT_GT(api.submit_connect(a, addr_in(kLoopAddr, 9100), [&](int64_t r) { con = r; }), 0);
  ASSERT_GT(api.submit_send(a, bytes("datagram"), 0, [&](int64_t r) { sent = r; }), 0);
  ASSERT_TRUE(h.run_until([&] { return got != kPending; }));
  EXPECT_EQ(con, 0);
  EXPECT_EQ(sent, 8);
  EXPECT_EQ(got, 8);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + 8), "datagram");
}

TEST(Async, CallbackMayCloseAndResubmit) {
  ManualHost h;
  SocketLayer& api = h.api();
  Pair p = connect_pair(h, 7009);
  std::vector<uint8_t> buf(8);
  int64_t first = kPending, second = kPending, again = kPending;
  ASSERT_GT(api.submit_recv(p.server, buf, 0,
                            [&](int64_t r) {
                              first = r;
                              // Closing from inside a completion cancels the next operation;
                              // submitting on the dead handle fails at once.
                              EXPECT_EQ(api.close(p.server), 0);
                              again = api.submit_recv(p.server, buf, 0, [](int64_t) {});
                            }),
            0);
  ASSERT_GT(api.submit_recv(p.server, buf, 0, [&](int64_t r) { second = r; }), 0);
  ASSERT_GT(api.submit_send(p.client, bytes("12"), 0, [](int64_t) {}), 0);
  ASSERT_TRUE(h.run_until([&] { return second != kPending; }));
  EXPECT_EQ(first, 2);
  EXPECT_EQ(again, -EBADF);
  EXPECT_EQ(second, -ECANCELED);
}

TEST(Async, StackTeardownDeliversCancellations) {
  int64_t r = kPending;
  {
    ManualHost h;
    SocketLayer& api = h.api();
    const Fd l = listen_on(api, 7010);
    ASSERT_GT(api.submit_accept(l, nullptr, [&](int64_t v) { r = v; }), 0);
    h.run_for(Duration::ms(1));
    EXPECT_EQ(r, kPending);
  }
  EXPECT_EQ(r, -ECANCELED);
}

// Real time: the stack thread runs the completions; the test thread waits for the last one.
TEST(Async, EchoUnderTheRealTimeRunner) {
  RtHost h;
  SocketLayer& api = h.api();
  const Fd l = api.socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(api.bind(l, sin(kHostAddr, 7011)), 0);
  ASSERT_EQ(api.listen(l, 16), 0);
  const Fd c = api.socket(AF_INET, SOCK_STREAM, 0);

  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::vector<uint8_t> sent(200'000), got(sent.size()), sbuf(sent.size());
  std::iota(sent.begin(), sent.end(), 0);
  std::atomic<Fd> srv{-1};
  int64_t got_n = 0;

  ASSERT_GT(api.submit_accept(l, nullptr,
                              [&](int64_t fd) {
                                ASSERT_GT(fd, 0);
                                srv = fd;
                                api.submit_recv(fd, sbuf, MSG_WAITALL, [&](int64_t n) {
                                  ASSERT_EQ(n, int64_t(sent.size()));
                                  api.submit_send(srv, sbuf, 0, [](int64_t) {});
                                });
                              }),
            0);
  ASSERT_GT(api.submit_connect(c, sin(kHostAddr, 7011),
                               [&](int64_t r) {
                                 ASSERT_EQ(r, 0);
                                 api.submit_send(c, sent, 0, [](int64_t) {});
                                 api.submit_recv(c, got, MSG_WAITALL, [&](int64_t n) {
                                   std::lock_guard<std::mutex> g(mu);
                                   got_n = n;
                                   finished = true;
                                   cv.notify_all();
                                 });
                               }),
            0);
  {
    std::unique_lock<std::mutex> g(mu);
    ASSERT_TRUE(cv.wait_for(g, std::chrono::seconds(20), [&] { return finished; }));
  }
  EXPECT_EQ(got_n, int64_t(sent.size()));
  EXPECT_TRUE(got == sent);
  LockedCall lk(api.env());
  EXPECT_EQ(api.stats().async_completed, 6u);  // accept, connect, 2 sends, 2 recvs
}

}  // namespace
}  // namespace ustack::socket::test
