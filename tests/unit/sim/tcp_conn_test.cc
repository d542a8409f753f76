// tests/unit/sim/tcp_conn_test.cc — TCP connection life cycles and the feedback loops between
// two ustack stacks: many short request/response connections (sequential and concurrent, each
// side closing first) leave both socket tables empty once TIME-WAIT expires; a slow reader's
// zero window reaches the sender, which probes and then completes; and a router with a smaller
// next-hop MTU makes the sender lower its MSS from ICMP fragmentation-needed (RFC 1191).
#include <gtest/gtest.h>

#include <map>

#include "tcp_scenario.h"
#include "tools/scratch_dir.h"

namespace ustack::sim {
namespace {

using test::ip;
using test::PeerPlan;
using test::TcpPeer;
using test::TcpServer;

constexpr uint16_t kPort = 8080;
constexpr size_t kReq = 64;

ConnectOptions gigabit() {
  ConnectOptions o;
  o.link.latency = Duration::us(50);
  o.link.bits_per_second = 1'000'000'000;
  return o;
}

// Response i is a different length and content for each connection, so a response delivered
// on the wrong connection shows.
size_t response_len(size_t i) { return 64 + (i * 97) % 3000; }

class ShortConnections : public ::testing::Test {
 protected:
  void SetUp() override { test::two_hosts(w_, gigabit()); }

  // The server answers each 64-byte request with response_len(i) bytes. server_closes_first:
  // it sends FIN with the response (HTTP/1.0 style, the server holds TIME-WAIT); otherwise the
  // client closes once it has the whole response (the client holds TIME-WAIT).
  // Connection i is the i-th accepted one, or (when clients connect together and the accept
  // order is not theirs) the client whose local port is port_to_client_[peer port].
  void start_server(bool server_closes_first) {
    srv_ = std::make_unique<TcpServer>(
        w_.host("b").tcp(), kPort,
        [this, server_closes_first](size_t k, const test::TcpSocket& s) {
          const size_t i = port_to_client_.empty() ? k : port_to_client_.at(s.peer_port());
          return PeerPlan{.out = test::random_bytes(response_len(i), 1000 + i),
                          .send_after = kReq,
                          .fin_after_send = server_closes_first};
        },
        512);
  }
  std::unique_ptr<TcpPeer> client(size_t i, bool server_closes_first) {
    PeerPlan p{.out = test::random_bytes(kReq, i), .fin_after_send = false};
    if (!server_closes_first) p.close_after_recv = response_len(i);
    return TcpPeer::connect(w_.host("a").tcp(), w_.now(), ip("10.0.0.2"), kPort, p);
  }
  // Requests and responses arrived intact on the right connection. The server's peers are in
  // accept order, which is connection order here.
  void check(const std::vector<std::unique_ptr<TcpPeer>>& clients) {
    ASSERT_EQ(srv_->accepted(), clients.size());
    for (size_t i = 0; i < clients.size(); ++i) {
      SCOPED_TRACE(i);
      EXPECT_TRUE(clients[i]->done()) << "errno " << clients[i]->error();
      EXPECT_TRUE(srv_->peer(i).done()) << "errno " << srv_->peer(i).error();
      EXPECT_EQ(clients[i]->received(), test::random_bytes(response_len(i), 1000 + i));
      EXPECT_EQ(srv_->peer(i).received(), test::random_bytes(kReq, i));
    }
  }
  void expect_empty_after_time_wait(size_t n, bool server_closes_first) {
    w_.run_for(Duration::ms(1));  // the last FIN's ACK lands
    srv_->stop(w_.now());
    const char* closer = server_closes_first ? "b" : "a";
    EXPECT_EQ(w_.host(closer).tcp().mib().time_waits, n);
    EXPECT_GE(w_.host(closer).tcp().sockets(), 1u);  // still in TIME-WAIT
    w_.run_for(Duration::s(61));
    test::expect_tcp_empty(w_, {"a", "b"});
    EXPECT_EQ(w_.host("a").tcp().mib().active_opens, n);
    EXPECT_EQ(w_.host("b").tcp().mib().passive_opens, n);
    for (const char* h : {"a", "b"}) {
      SCOPED_TRACE(h);
      const auto& m = w_.host(h).tcp().mib();
      EXPECT_EQ(m.attempt_fails, 0u);
      EXPECT_EQ(m.estab_resets, 0u);
      EXPECT_EQ(m.out_rsts, 0u);
      EXPECT_EQ(m.retrans_segs, 0u);
    }
  }

  World w_{61};
  std::unique_ptr<TcpServer> srv_;
  std::map<uint16_t, size_t> port_to_client_;
};

TEST_F(ShortConnections, FiveHundredSequentialClientClosesFirst) {
  start_server(false);
  std::vector<std::unique_ptr<TcpPeer>> clients;
  for (size_t i = 0; i < 500; ++i) {
    clients.push_back(client(i, false));
    TcpPeer& c = *clients.back();
    ASSERT_TRUE(w_.run_until([&] { return c.closed(); }, w_.now() + Duration::ms(50))) << i;
  }
  // Let the server sides see the last FINs.
  ASSERT_TRUE(w_.run_until([&] { return srv_->all_done(); }, w_.now() + Duration::ms(50)));
  check(clients);
  expect_empty_after_time_wait(500, false);
}

TEST_F(ShortConnections, FiveHundredSequentialServerClosesFirst) {
  start_server(true);
  std::vector<std::unique_ptr<TcpPeer>> clients;
  for (size_t i = 0; i < 500; ++i) {
    clients.push_back(client(i, true));
    TcpPeer& c = *clients.back();
    ASSERT_TRUE(w_.run_until([&] { return c.closed(); }, w_.now() + Duration::ms(50))) << i;
  }
  ASSERT_TRUE(w_.run_until([&] { return srv_->all_done(); }, w_.now() + Duration::ms(50)));
  check(clients);
  expect_empty_after_time_wait(500, true);
}

// 300 connections opened in the same instant, all in flight together. ARP is not resolved
// yet: the neighbour queue holds 101 packets (unres_qlen), so 199 SYNs are dropped there
// (NeighQueueFull) and go again when their 1 s SYN timer expires.
TEST_F(ShortConnections, ThreeHundredConcurrent) {
  start_server(false);
  std::vector<std::unique_ptr<TcpPeer>> clients;
  for (size_t i = 0; i < 300; ++i) {
    clients.push_back(client(i, false));
    port_to_client_[clients.back()->socket()->local_port()] = i;
  }
  ASSERT_TRUE(w_.run_until(
      [&] {
        return srv_->accepted() == 300 && srv_->all_done() &&
               std::all_of(clients.begin(), clients.end(), [](auto& c) { return c->closed(); });
      },
      w_.now() + Duration::s(10)))
      << "accepted " << srv_->accepted() << ", clients closed "
      << std::count_if(clients.begin(), clients.end(), [](auto& c) { return c->closed(); })
      << ", now " << w_.now().to_string() << "\n"
      << w_.host("a").tcp().format() << w_.host("b").tcp().format() << "a:\n"
      << w_.host("a").format_drops() << "b:\n"
      << w_.host("b").format_drops() << w_.host("b").tcp().format_netstat();
  // Accept order is not connect order when SYNs wait for ARP: match by the client's port.
  ASSERT_EQ(srv_->accepted(), 300u);
  for (size_t k = 0; k < 300; ++k) {
    TcpPeer& p = srv_->peer(k);
    ASSERT_TRUE(p.done()) << k << " errno " << p.error();
    const size_t i = port_to_client_.at(p.peer_port());
    EXPECT_EQ(p.received(), test::random_bytes(kReq, i)) << k;
  }
  for (size_t i = 0; i < 300; ++i) {
    SCOPED_TRACE(i);
    EXPECT_TRUE(clients[i]->done()) << "errno " << clients[i]->error();
    EXPECT_EQ(clients[i]->received(), test::random_bytes(response_len(i), 1000 + i));
  }
  EXPECT_EQ(w_.host("a").telemetry().drops().get(DropReason::kNeighQueueFull), 199u);
  EXPECT_GE(w_.host("a").tcp().mib().retrans_segs, 199u);  // the SYNs again, after 1 s
  srv_->stop(w_.now());
  w_.run_for(Duration::s(61));
  test::expect_tcp_empty(w_, {"a", "b"});
}

// Short connections over a lossy cable: lost SYNs, SYN-ACKs, FINs and last ACKs are all
// retransmitted, every exchange completes intact, and once TIME-WAIT and every orphan's
// retries are over both tables are empty. Client closes first on even connections, the
// server on odd ones.
TEST(ShortConnectionsLossy, TwoHundredUnderFivePercentLossEachWay) {
  World w(65);
  ConnectOptions o = gigabit();
  o.a.faults = dev::FaultInjectorConfig{.rx = {.drop = 0.05, .duplicate = 0.01, .reorder = 0.02},
                                        .tx = {.drop = 0.05, .duplicate = 0.01, .reorder = 0.02},
                                        .seed = 65};
  test::two_hosts(w, o);
  TcpServer srv(w.host("b").tcp(), kPort, [](size_t i, const test::TcpSocket&) {
    return PeerPlan{.out = test::random_bytes(response_len(i), 1000 + i),
                    .send_after = kReq,
                    .fin_after_send = i % 2 == 1};
  });
  std::vector<std::unique_ptr<TcpPeer>> clients;
  for (size_t i = 0; i < 200; ++i) {
    PeerPlan p{.out = test::random_bytes(kReq, i), .fin_after_send = false};
    if (i % 2 == 0) p.close_after_recv = response_len(i);
    clients.push_back(
        TcpPeer::connect(w.host("a").tcp(), w.now(), ip("10.0.0.2"), kPort, std::move(p)));
    TcpPeer& c = *clients.back();
    ASSERT_TRUE(w.run_until([&] { return c.closed(); }, w.now() + Duration::s(120)))
        << i << ": got " << c.received().size() << "\n"
        << w.host("a").tcp().format() << w.host("b").tcp().format();
    ASSERT_EQ(c.error(), 0) << i;
    ASSERT_EQ(c.received(), test::random_bytes(response_len(i), 1000 + i)) << i;
  }
  ASSERT_TRUE(w.run_until([&] { return srv.all_done(); }, w.now() + Duration::s(120)));
  ASSERT_EQ(srv.accepted(), 200u);
  for (size_t i = 0; i < 200; ++i) EXPECT_EQ(srv.peer(i).received(), test::random_bytes(kReq, i));
  srv.stop(w.now());
  w.run_for(Duration::s(300));  // TIME-WAIT (60 s) and any orphan retransmitting its FIN
  test::expect_tcp_empty(w, {"a", "b"});
  EXPECT_EQ(w.host("a").tcp().mib().active_opens, 200u);
  EXPECT_EQ(w.host("b").tcp().mib().passive_opens, 200u);
  EXPECT_GT(w.host("a").tcp().mib().retrans_segs + w.host("b").tcp().mib().retrans_segs, 0u);
}

// Flow control (slow_reader): b connects to a, which sends 1 MiB; b reads nothing for 3 s,
// then 4 KiB every 10 ms, with a 16 KiB receive buffer. b's window closes (zero window on the
// wire), a stops sending (its send() says EAGAIN: the full send buffer is the back pressure),
// probes the zero window with backoff, and the transfer completes exactly once b reads.
struct WindowSeen {
  size_t zero_windows = 0;  // segments from b with window 0
  size_t shrinks = 0;       // segments from b whose right edge is left of an earlier one
  uint32_t worst_shrink = 0;
  size_t beyond = 0;  // data segments from a beyond b's advertised right edge
};
void slow_reader(WindowSeen& seen) {
  testtools::ScratchDir dir;
  World w(62);
  ConnectOptions o = gigabit();
  o.a.pcap_path = dir.file("a.pcap");
  test::two_hosts(w, o);
  const size_t kBytes = 1 << 20;
  const auto data = test::random_bytes(kBytes, 62);
  TcpServer srv(w.host("a").tcp(), kPort,
                [&](size_t, const test::TcpSocket&) { return PeerPlan{.out = data}; });
  auto reader = TcpPeer::connect(
      w.host("b").tcp(), w.now(), ip("10.0.0.1"), kPort,
      PeerPlan{
          .fin_after_send = false, .read_budget = 4096, .read_on_wakeup = false, .rcvbuf = 16384});
  w.run_for(Duration::s(3));
  ASSERT_EQ(srv.accepted(), 1u);
  TcpPeer& sender = srv.peer(0);
  EXPECT_EQ(reader->received().size(), 0u);
  // At most one window-scale unit past SO_RCVBUF (the rounding of a kept window).
  EXPECT_LE(reader->socket()->rx_available(),
            reader->socket()->rcvbuf() + (1u << reader->socket()->info().rcv_wscale));
  // What is left of the window is less than one unit of the window scale: 0 on the wire.
  EXPECT_LT(reader->socket()->info().rcv_wnd, 1u << reader->socket()->info().rcv_wscale);
  EXPECT_LT(sender.sent(), kBytes);  // back pressure reached the application
  EXPECT_GT(sender.socket()->tx_queued(), 0u);
  EXPECT_EQ(sender.socket()->snd().wnd, 0u);
  // Zero-window probes with exponential backoff from the 200 ms RTO floor: 0.2, 0.6, 1.4, 3.0 s.
  const uint8_t b_wscale = reader->socket()->info().rcv_wscale;
  const uint64_t probes = w.host("a").tcp().mib().zero_window_probes;
  EXPECT_GE(probes, 2u);
  EXPECT_LE(probes, 6u);
  EXPECT_EQ(sender.socket()->state(), transport::TcpState::kEstablished);

  const Instant start_reading = w.now();
  while (!(reader->closed() && sender.closed()) && w.now() - start_reading < Duration::s(30)) {
    w.run_for(Duration::ms(10));
    reader->pump(w.now());
  }
  ASSERT_TRUE(reader->closed() && sender.closed())
      << "read " << reader->received().size() << " of " << kBytes;
  // The slow reader does the pacing: 1 MiB at 4 KiB / 10 ms is 2.56 s, plus little.
  EXPECT_LT(w.now() - start_reading, Duration::ms(4000));
  EXPECT_EQ(test::first_difference(data, reader->received()), "");
  EXPECT_EQ(reader->error(), 0);
  EXPECT_EQ(sender.error(), 0);

  // The wire shows b advertising a zero window, b's right edge (ACK + window << scale) never
  // moving left (RFC 9293 §3.8.6: no shrinking; RFC 7323 §2.4), and a never sending beyond it.
  w.close_pcaps();
  size_t& zero_windows = seen.zero_windows;
  size_t& shrinks = seen.shrinks;
  size_t& beyond = seen.beyond;
  uint32_t& worst_shrink = seen.worst_shrink;
  std::optional<wire::SeqNum> right;
  for (const auto& s : test::tcp_frames(test::read_pcap(dir.file("a.pcap")))) {
    EXPECT_FALSE(s.flags.rst());
    if (s.flags.syn()) continue;
    if (s.src == ip("10.0.0.2")) {
      zero_windows += s.window == 0;
      const wire::SeqNum edge = s.ack + (uint32_t{s.window} << b_wscale);
      if (right && edge < *right) {
        ++shrinks;
        worst_shrink = std::max(worst_shrink, *right - edge);
      }
      if (!right || *right < edge) right = edge;
    } else if (s.payload > 0 && right && *right < s.seq + static_cast<uint32_t>(s.payload)) {
      ++beyond;
    }
  }
  test::expect_tshark_clean(dir.file("a.pcap"));
}

TEST(ZeroWindow, SlowReaderThrottlesTheSenderAndTheTransferCompletes) {
  WindowSeen seen;
  slow_reader(seen);
  EXPECT_GT(seen.zero_windows, 0u);
  EXPECT_EQ(seen.beyond, 0u) << "a sent beyond b's window";
}

// With window scaling the right edge can only be advertised in units of 2^wscale. Rounding a
// kept window up never moves the edge left but lets it creep past the buffer by up to a unit
// per ACK, without bound for tiny segments (RFC 7323 Appendix F, Linux 6.5 tcp_shrink_window).
// ustack rounds up while the edge stays within one unit of the buffer's end and down beyond
// that: the edge may move left, but by less than one unit, and memory stays bounded.
TEST(ZeroWindow, TheRightEdgeMovesLeftOnlyByLessThanOneScaleUnit) {
  WindowSeen seen;
  slow_reader(seen);
  EXPECT_LT(seen.worst_shrink, 128u) << seen.shrinks << " shrinks (wscale 7: unit 128 bytes)";
}

// PMTU discovery (RFC 1191): a -- r1 ==(MTU 1000)== r2 -- b. Both ends see 1500-byte links
// and agree on MSS 1460; their first full segments (DF set) reach the narrow hop, whose router
// answers ICMP fragmentation-needed with next-hop MTU 1000; the sender lowers its MSS, resends
// without waiting for an RTO, and the transfer completes with nothing fragmented.
TEST(Pmtu, FragNeededLowersTheMssAndTheTransferCompletes) {
  testtools::ScratchDir dir;
  World w(63);
  for (const char* h : {"a", "r1", "r2", "b"}) w.add_host(h);
  ConnectOptions edge = gigabit();
  edge.a.pcap_path = dir.file("a.pcap");
  w.connect("a", "r1", edge);
  ConnectOptions narrow = gigabit();
  narrow.mtu = 1000;
  w.connect("r1", "r2", narrow);
  ConnectOptions edge_b = gigabit();
  edge_b.b.pcap_path = dir.file("b.pcap");
  w.connect("r2", "b", edge_b);
  ASSERT_TRUE(w.add_address("a", "eth0", "10.0.1.2/24").ok());
  ASSERT_TRUE(w.add_address("r1", "eth0", "10.0.1.1/24").ok());
  ASSERT_TRUE(w.add_address("r1", "eth1", "10.0.12.1/24").ok());
  ASSERT_TRUE(w.add_address("r2", "eth0", "10.0.12.2/24").ok());
  ASSERT_TRUE(w.add_address("r2", "eth1", "10.0.2.1/24").ok());
  ASSERT_TRUE(w.add_address("b", "eth0", "10.0.2.2/24").ok());
  ASSERT_TRUE(w.add_default_route("a", "10.0.1.1").ok());
  ASSERT_TRUE(w.add_default_route("b", "10.0.2.1").ok());
  ASSERT_TRUE(w.add_route("r1", "10.0.2.0/24", "10.0.12.2").ok());
  ASSERT_TRUE(w.add_route("r2", "10.0.1.0/24", "10.0.12.1").ok());
  w.host("r1").set_forwarding(true);
  w.host("r2").set_forwarding(true);

  auto o = test::run_transfer(w, "a", "b", ip("10.0.2.2"),
                              test::TransferSpec{.up = 1 << 20, .down = 1 << 20, .seed = 63});
  ASSERT_TRUE(o.completed);
  EXPECT_LT(o.max_gap, Duration::ms(200));  // no RTO: the ICMP triggers the resend
  EXPECT_GE(w.host("r1").ip().icmp_stats().out_dest_unreachs, 1u);  // for a's segments
  EXPECT_GE(w.host("r2").ip().icmp_stats().out_dest_unreachs, 1u);  // for b's segments
  w.close_pcaps();
  // a saw fragmentation-needed from r1 quoting b, with next-hop MTU 1000.
  bool frag_needed = false;
  for (const auto& m : test::icmp_frames(test::read_pcap(dir.file("a.pcap")))) {
    if (m.type == 3 && m.code == 4 && m.src == ip("10.0.1.1")) {
      frag_needed = true;
      EXPECT_EQ(m.rest_lo, 1000);
      EXPECT_EQ(m.quoted_dst, ip("10.0.2.2"));
      EXPECT_EQ(m.quoted_protocol, 6);
    }
  }
  EXPECT_TRUE(frag_needed);
  // Everything that crossed the narrow hop fit: no fragments, no packet over 1000 bytes, DF on.
  size_t payload = 0;
  for (const auto& f : test::ip_frames(test::read_pcap(dir.file("b.pcap")))) {
    EXPECT_FALSE(f.fragment);
    if (f.protocol != 6 || f.src != ip("10.0.1.2")) continue;
    EXPECT_LE(f.total_len, 1000);
    EXPECT_TRUE(f.df);
  }
  for (const auto& s : test::tcp_frames(test::read_pcap(dir.file("b.pcap"))))
    if (s.src == ip("10.0.1.2")) payload += s.payload;
  EXPECT_GE(payload, size_t{1} << 20);
  // No tshark_clean here: with tcp.check_checksum on, tshark verifies the TCP checksum of the
  // segment quoted (truncated, as RFC 792 and Linux quote it) inside each fragmentation-needed
  // and reports it bad, although the quote is exactly the router's copy of a good segment.
}

// An abortive close after an RTO: the RTO took SND.NXT back to SND.UNA (go-back-N), but the
// peer already has everything up to SND.MAX, so the RST must carry SND.MAX (Linux's snd_nxt,
// which never goes back; tcp_send_active_reset) to land at the peer's RCV.NXT and reset it.
// (Regression: send_rst_active used SND.NXT; the RST landed 8552 bytes below b's RCV.NXT, b
// dropped it as out of window (RFC 5961 §3.2) and stayed ESTABLISHED.)
TEST(Abort, RstAfterAnRtoStillResetsThePeer) {
  World w(64);
  ConnectOptions o = gigabit();
  o.a.faults = dev::FaultInjectorConfig{};  // clean until the data is sent
  test::two_hosts(w, o);
  TcpServer srv(w.host("b").tcp(), kPort, [](size_t, const test::TcpSocket&) {
    return PeerPlan{.fin_after_send = false};  // reads until EOF (or an error)
  });
  test::TcpSocket* c = w.host("a").tcp().open();
  ASSERT_TRUE(c->connect(w.now(), ip("10.0.0.2"), kPort).ok());
  ASSERT_TRUE(w.run_until([&] { return srv.accepted() == 1; }, w.now() + Duration::ms(5)));
  // From now on every frame a receives is lost: b's ACKs never arrive.
  w.faults("a", "eth0")->set_config({.rx = {.drop = 1.0}});
  ASSERT_EQ(c->send(w.now(), test::random_bytes(10000, 64)).value_or(0), 10000u);
  w.run_for(Duration::ms(300));  // b has it all; a's RTO (200 ms) went back to SND.UNA
  ASSERT_EQ(srv.peer(0).received().size(), 10000u);
  ASSERT_GE(w.host("a").tcp().mib().tcp_timeouts, 1u);
  w.host("a").tcp().abort(w.now(), c);
  w.run_for(Duration::ms(5));
  EXPECT_EQ(srv.peer(0).error(), ECONNRESET);
  EXPECT_EQ(w.host("b").tcp().mib().estab_resets, 1u);
}

}  // namespace
}  // namespace ustack::sim
