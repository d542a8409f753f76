// cli/demo_tcp.cc — scene 5 of `ustack demo`: TCP between alice and bob on their own cable
// (alice eth2 10.0.3.1/24 --- 10.0.3.2/24 eth2 bob), every frame's journey printed:
//   a. bob listens on port 80; alice connects: ARP first, then SYN, SYN-ACK, ACK, and bob's
//      application accepts the new connection;
//   b. alice sends a 3000-byte request (MSS-sized segments), bob reads it and answers with
//      1000 bytes; the ACKs (immediate, piggybacked and delayed) show up as they happen;
//   c. alice closes, bob reads end-of-stream and closes: FIN, ACK, FIN, ACK, alice in
//      TIME-WAIT for 60 s, then both socket tables empty.
// The applications' calls are printed as "app" events and the sockets' wakeups
// (sk_data_ready, sk_state_change...) as "socket" events, so a journey reads ring, NAPI,
// Ethernet, IP, TCP, socket, application.
#include <fmt/format.h>

#include <vector>

#include "ustack/cli/demo_net.h"
#include "ustack/transport/tcp.h"

namespace ustack::cli::demo {
namespace {

using transport::TcpSocket;
using transport::TcpState;

const Ipv4Addr kAlice2 = Ipv4Addr::from_octets(10, 0, 3, 1);
const Ipv4Addr kBob2 = Ipv4Addr::from_octets(10, 0, 3, 2);
constexpr uint16_t kPort = 80;
constexpr size_t kRequest = 3000;
constexpr size_t kResponse = 1000;

std::string mask_names(uint32_t m) {
  std::string s;
  for (auto [bit, name] : {std::pair{transport::kPollIn, "IN"},
                           {transport::kPollOut, "OUT"},
                           {transport::kPollErr, "ERR"},
                           {transport::kPollHup, "HUP"},
                           {transport::kPollRdHup, "RDHUP"}}) {
    if ((m & bit) == 0) continue;
    if (!s.empty()) s += '|';
    s += name;
  }
  return s.empty() ? "-" : s;
}

// An application's call, in the timeline with the stacks' own events.
void app(stack::Stack& st, Instant now, std::string_view action, const std::string& detail) {
  st.telemetry().trace(now, Layer::kApp, action, 0, [&] { return detail; });
}

// The socket's wakeup (what epoll would report), printed as a socket-layer event.
void watch(stack::Stack& st, TcpSocket* s, const char* who) {
  s->set_wakeup([&st, s, who](Instant now, uint32_t mask) {
    st.telemetry().trace(now, Layer::kSocket, "wakeup", 0, [&] {
      return fmt::format("{} poll={} state={}", who, mask_names(mask),
                         transport::tcp_state_name(s->state()));
    });
  });
}

std::vector<uint8_t> bytes(size_t n, uint8_t salt) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 31 + salt);
  return v;
}

// Reads what is there (up to `want` bytes in all) into `into`; the call is printed.
void read_into(stack::Stack& st, Instant now, TcpSocket* s, std::vector<uint8_t>& into,
               const char* who) {
  std::vector<uint8_t> buf(16384);
  while (true) {
    auto r = s->recv(now, buf);
    if (!r) {
      app(st, now, "recv", fmt::format("{} -> errno {}", who, r.error()));
      return;
    }
    app(st, now, "recv",
        *r == 0 ? fmt::format("{} -> 0 (end of stream: the peer's FIN)", who)
                : fmt::format("{} -> {} bytes", who, *r));
    if (*r == 0) return;
    into.insert(into.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(*r));
    if (s->rx_available() == 0) return;
  }
}

void ss(DemoNet& net, const char* host, const char* why) {
  std::string t = net.host(host).tcp().format();
  if (!t.empty() && t.back() == '\n') t.pop_back();
  net.say(fmt::format("\n  $ ss -tan   # on {}{}\n{}", host, why, indent(t, 4)));
}

}  // namespace

void scene_tcp(DemoNet& net) {
  net.title("Scene 5. TCP: the three-way handshake, a request and its response, the close");
  net.say(
      "  alice and bob on their own cable (eth2, 10.0.3.0/24). bob's web server listens on\n"
      "  port 80; alice connects, sends a 3000-byte request, reads bob's 1000-byte response and\n"
      "  closes. Every event of every frame is printed: ring, NAPI, Ethernet, IP, TCP, and the\n"
      "  socket (its wakeups) and application (its calls) above it.");
  stack::Stack& alice = net.host("alice");
  stack::Stack& bob = net.host("bob");
  sim::World& w = net.world();
  Narrator& n = net.narrator();
  n.clear();
  const Instant t0 = net.now();

  // ---- a. the handshake
  net.say("\n-- 5a. bob: listen(80); alice: connect(10.0.3.2:80)");
  n.explain("bob", "listen",
            "a listening socket: SYNs to port 80 create request socks (the SYN queue)");
  n.explain("alice", "state",
            "connect(): an ephemeral port (RFC 6056) and an ISN from a keyed hash of the four\n"
            "addresses and ports (RFC 6528)",
            "-> SYN-SENT");
  n.explain("alice", "tcp_transmit_skb",
            "the SYN: seq = alice's ISN; options MSS, SACK-permitted, timestamps, window scale",
            "[S]");
  n.explain("alice", "neigh_create",
            "the SYN waits for ARP like any IP packet: bob's MAC on eth2 is unknown");
  n.explain("bob", "tcp_v4_rcv",
            "tcp_v4_rcv: checksum good; no connection has these four addresses and ports, so\n"
            "the listener on port 80 takes the SYN: a request sock, not yet a socket",
            "[S]");
  n.explain("bob", "tcp_transmit_skb",
            "the SYN-ACK: bob's own ISN, and ack = alice's ISN + 1 (the SYN takes one number)",
            "[S.]");
  n.explain("alice", "wakeup", "ESTABLISHED: the socket wakes its application (writable)");
  n.explain("bob", "state",
            "the third segment ACKs bob's SYN: the request sock becomes a full socket,\n"
            "ESTABLISHED, queued for accept()",
            "-> ESTABLISHED");
  n.explain("bob", "wakeup", "the listener becomes readable: a connection to accept");
  n.explain("bob", "accept", "accept() hands the established connection to the application");
  TcpSocket* l = bob.tcp().open();
  const bool listening = l->bind(Ipv4Addr::any(), kPort).ok() && l->listen(16).ok();
  watch(bob, l, "listener");
  net.trace(kAllLayers);
  app(bob, net.now(), "listen", "0.0.0.0:80 backlog 16");
  TcpSocket* c = alice.tcp().open();
  watch(alice, c, "client");
  // The application's call first, then what it set off (its result is in the check below).
  app(alice, net.now(), "connect", "10.0.3.2:80");
  const auto conn = c->connect(net.now(), kBob2, kPort);
  const bool up =
      w.run_until([&] { return c->state() == TcpState::kEstablished && l->accept_queue_len() > 0; },
                  net.now() + Duration::ms(10));
  TcpSocket* s = nullptr;
  if (auto a = l->accept()) {
    s = *a;
    watch(bob, s, "server");
    app(bob, net.now(), "accept", fmt::format("{}:{}", s->peer_addr().to_string(), s->peer_port()));
  }
  net.trace_off();
  n.clear();
  net.check(listening && conn.ok() && up && s != nullptr,
            "three segments later both ends are ESTABLISHED and bob accepted the connection");
  if (s == nullptr) return;
  const transport::TcpInfo ci = c->info();
  net.say(fmt::format(
      "  negotiated: MSS {}, window scale {}, SACK {}, timestamps {}; RTT {} us, RTO {} ms",
      ci.snd_mss, ci.wscale_ok ? fmt::format("{}/{}", ci.snd_wscale, ci.rcv_wscale) : "off",
      ci.sack_ok ? "on" : "off", ci.ts_ok ? "on" : "off", ci.rtt_us, ci.rto_us / 1000));
  ss(net, "alice", "");
  ss(net, "bob", "   (the listener and the accepted connection)");

  // ---- b. request and response
  net.say(fmt::format("\n-- 5b. alice: send({} bytes); bob: recv, send({} bytes); alice: recv",
                      kRequest, kResponse));
  n.explain("alice", "send",
            "send() copies the bytes into MSS-sized buffers on the write queue; TCP keeps\n"
            "them (and sends clones) until bob ACKs them");
  n.explain("bob", "wakeup", "data in order on the receive queue: readable (sk_data_ready)");
  n.explain("bob", "tcp_transmit_skb",
            "bob ACKs every segment at once: a new connection starts in quick-ACK mode (as\n"
            "Linux), so the sender's window grows without waiting for delayed ACKs",
            "len 0");
  n.explain("alice", "recv", "recv() copies the response out of the received frames' buffers");
  const std::vector<uint8_t> req = bytes(kRequest, 1), resp = bytes(kResponse, 2);
  std::vector<uint8_t> got_req, got_resp;
  net.trace(kAllLayers);
  app(alice, net.now(), "send", fmt::format("client: {} bytes", kRequest));
  const auto sent = c->send(net.now(), req);
  w.run_until([&] { return s->rx_available() >= kRequest; }, net.now() + Duration::ms(10));
  read_into(bob, net.now(), s, got_req, "server");
  app(bob, net.now(), "send", fmt::format("server: {} bytes", kResponse));
  const auto sent2 = s->send(net.now(), resp);
  w.run_until([&] { return c->rx_available() >= kResponse; }, net.now() + Duration::ms(10));
  read_into(alice, net.now(), c, got_resp, "client");
  net.run_for(Duration::ms(250));  // anything still to acknowledge goes with a delayed ACK
  net.trace_off();
  n.clear();
  net.check(sent && *sent == kRequest && sent2 && *sent2 == kResponse,
            "each send() took all its bytes at once (the send buffer has room)");
  net.check(got_req == req,
            fmt::format("bob read alice's {} bytes, intact and in order", kRequest));
  net.check(got_resp == resp, fmt::format("alice read bob's {} bytes, intact", kResponse));

  // ---- c. the close
  net.say("\n-- 5c. alice: close(); bob: recv -> 0 (end of stream), close()");
  n.explain("alice", "close",
            "close(): a FIN after the queued data; alice's socket lives on as an orphan\n"
            "(FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT) though the application is done with it");
  n.explain("bob", "state",
            "alice's FIN: bob's side has nothing more to read (CLOSE-WAIT) but may still send",
            "-> CLOSE-WAIT");
  n.explain("bob", "wakeup", "end of stream is readable (RDHUP): recv() will return 0");
  n.explain("alice", "state", "bob ACKed alice's FIN: half closed, waiting for bob's",
            "-> FIN-WAIT-2");
  n.explain("bob", "close", "bob's FIN: LAST-ACK until alice acknowledges it, then CLOSED");
  n.explain("alice", "state",
            "bob's FIN, ACKed: TIME-WAIT holds the four numbers for 2*MSL (60 s) so that a\n"
            "late duplicate of this connection cannot be taken for a new one",
            "-> TIME-WAIT");
  n.explain("bob", "state", "the last ACK: bob's socket is gone", "-> CLOSED");
  net.trace(kAllLayers);
  c->set_wakeup({});
  app(alice, net.now(), "close", "client");
  alice.tcp().close(net.now(), c);
  w.run_until([&] { return (s->poll_mask() & transport::kPollRdHup) != 0; },
              net.now() + Duration::ms(10));
  read_into(bob, net.now(), s, got_req, "server");
  s->set_wakeup({});
  app(bob, net.now(), "close", "server");
  bob.tcp().close(net.now(), s);
  net.run_for(Duration::ms(5));
  net.trace_off();
  n.clear();
  ss(net, "alice", "   (the active closer waits in TIME-WAIT: 2*MSL = 60 s)");
  ss(net, "bob", "");
  const bool tw = alice.tcp().sockets() == 1 && bob.tcp().sockets() == 1;
  net.check(tw, "alice holds one TIME-WAIT socket; bob only his listener");
  net.tcpdump("alice", "eth2", t0 - Duration::us(1));  // pcap keeps microseconds

  net.run_for(Duration::s(61));
  l->set_wakeup({});
  bob.tcp().close(net.now(), l);
  net.run_for(Duration::ms(1));
  net.check(alice.tcp().sockets() == 0 && bob.tcp().sockets() == 0,
            "61 s later TIME-WAIT has expired: both socket tables are empty");
  const transport::TcpMib& ma = alice.tcp().mib();
  const transport::TcpMib& mb = bob.tcp().mib();
  net.say(
      fmt::format("  alice: ActiveOpens {} OutSegs {} InSegs {} RetransSegs {} TW {}\n"
                  "  bob:   PassiveOpens {} OutSegs {} InSegs {} RetransSegs {} DelayedACKs {}",
                  ma.active_opens, ma.out_segs, ma.in_segs, ma.retrans_segs, ma.time_waits,
                  mb.passive_opens, mb.out_segs, mb.in_segs, mb.retrans_segs, mb.delayed_acks));
  net.check(
      ma.active_opens == 1 && mb.passive_opens == 1 && ma.retrans_segs == 0 && mb.retrans_segs == 0,
      "one connection each way, nothing retransmitted on a clean cable");
}

}  // namespace ustack::cli::demo
