// tests/unit/stack/tcp_harness.h — per-state TCP tests: one Stack (host_harness.h) whose peer
// is the test. The test builds TCP segments by hand (flags, sequence numbers, window, options,
// payload, correct or broken checksum), injects them at chosen virtual times, and parses every
// segment the stack emits into a TcpRepr plus payload to assert on exactly.
//
// Conventions: ustack is 192.0.2.2 (kUs), the peer 192.0.2.1 (kPeer). A Conn holds both ends'
// sequence numbers as the peer sees them: `nxt` is the peer's SND.NXT, `rcv` the peer's
// RCV.NXT (the next byte it expects from ustack). Conn::seg() builds the peer's next segment;
// TcpHarness::out(c) records what ustack sent so `rcv` and the echoed timestamp follow.
//
// Tests tag the RFC 9293 requirements they cover with a comment line
//   // RFC9293: MUST-xx, SHLD-yy
// right above the TEST (tools/rfc9293_coverage.py collects them).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "host_harness.h"
#include "ustack/transport/tcp.h"
#include "ustack/wire/tcp.h"

namespace ustack::tcptest {

using stacktest::kPeer;
using stacktest::kPeerMac;
using stacktest::kUs;
using stacktest::kUsMac;
using transport::TcpConfig;
using transport::TcpLayer;
using transport::TcpSocket;
using transport::TcpState;
using wire::Ipv4Addr;
using wire::SeqNum;
using wire::TcpFlag;
using wire::TcpFlags;
using wire::TcpOptions;
using wire::TcpRepr;

inline constexpr uint16_t kPort = 80;          // ustack's listening port
inline constexpr uint16_t kPeerPort = 40000;   // the peer's port
inline constexpr uint32_t kPeerIss = 1000000;  // the peer's ISN unless a test picks another

inline constexpr TcpFlags kSyn{TcpFlag::kSyn};
inline constexpr TcpFlags kSynAck{TcpFlag::kSyn, TcpFlag::kAck};
inline constexpr TcpFlags kAck{TcpFlag::kAck};
inline constexpr TcpFlags kRst{TcpFlag::kRst};
inline constexpr TcpFlags kRstAck{TcpFlag::kRst, TcpFlag::kAck};
inline constexpr TcpFlags kFinAck{TcpFlag::kFin, TcpFlag::kAck};
inline constexpr TcpFlags kPshAck{TcpFlag::kPsh, TcpFlag::kAck};
inline constexpr TcpFlags kFin{TcpFlag::kFin};

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed = 1) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

// A segment from the peer.
// Fields in the order designated initializers use them most.
struct Seg {
  TcpFlags flags;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t sport = kPeerPort;
  uint16_t dport = kPort;
  std::vector<uint8_t> data;
  uint16_t win = 65535;  // the raw field (unscaled)
  TcpOptions opts;
  Ipv4Addr src = kPeer;
  Ipv4Addr dst = kUs;
  uint16_t urgent = 0;
  bool bad_checksum = false;
};

// The TCP segment bytes (header, options, payload) with the checksum over the pseudo-header.
inline std::vector<uint8_t> tcp_bytes(const Seg& s) {
  TcpRepr h;
  h.src_port = s.sport;
  h.dst_port = s.dport;
  h.seq = SeqNum{s.seq};
  h.ack = SeqNum{s.ack};
  h.flags = s.flags;
  h.window = s.win;
  h.urgent = s.urgent;
  h.options = s.opts;
  std::vector<uint8_t> b(h.buffer_len(s.data.size()));
  std::copy(s.data.begin(), s.data.end(), b.begin() + static_cast<long>(h.header_len()));
  h.emit(b, wire::Ipv4Pseudo{s.src, s.dst});
  if (s.bad_checksum) b[16] ^= 0x5a;
  return b;
}

inline std::vector<uint8_t> tcp_frame(const Seg& s) {
  return stacktest::frame(
      stacktest::Pkt{.src = s.src, .dst = s.dst, .proto = 6, .df = true, .payload = tcp_bytes(s)});
}

// A segment ustack emitted.
struct Out {
  wire::Ipv4Repr ip;
  TcpRepr h;
  std::vector<uint8_t> data;
  std::vector<uint8_t> datagram;  // the IPv4 header and segment as sent (for ICMP quotes)

  uint32_t seq() const { return h.seq.v; }
  uint32_t ack() const { return h.ack.v; }
  TcpFlags flags() const { return h.flags; }
  // Flags without PSH: where the sender sets PSH is its business (RFC 9293 §3.9.1 MAY-16).
  TcpFlags flags_no_psh() const {
    TcpFlags f = h.flags;
    return f.set(TcpFlag::kPsh, false);
  }
  // SEG.LEN: payload plus one for SYN and one for FIN.
  uint32_t len() const {
    return static_cast<uint32_t>(data.size()) + (h.flags.syn() ? 1 : 0) + (h.flags.fin() ? 1 : 0);
  }
  uint32_t end() const { return seq() + len(); }
  std::string str() const {
    return h.flags.to_string() + " seq=" + std::to_string(seq()) + " ack=" + std::to_string(ack()) +
           " win=" + std::to_string(h.window) + " len=" + std::to_string(data.size());
  }
};

inline std::string describe(const std::vector<Out>& v) {
  std::string s;
  for (const auto& o : v) s += "\n  " + o.str();
  return s.empty() ? "(none)" : s;
}

// One connection as the peer sees it.
struct Conn {
  TcpSocket* s = nullptr;         // ustack's socket (nullptr once closed by the test)
  TcpSocket* listener = nullptr;  // passive opens: the listener
  uint16_t lport = kPort;         // ustack's port
  uint16_t pport = kPeerPort;     // the peer's port
  uint32_t iss = 0;               // ustack's ISS (from its SYN or SYN-ACK)
  uint32_t irs = kPeerIss;        // the peer's ISS
  uint32_t nxt = 0;               // the peer's SND.NXT
  uint32_t rcv = 0;               // the peer's RCV.NXT
  uint16_t win = 65535;           // the raw window the peer advertises
  bool ts = false;                // timestamps negotiated: the peer sends them on every segment
  uint32_t tsval = 5000;          // the peer's timestamp clock (bumped per segment)
  uint32_t ts_recent = 0;         // ustack's last TSval: the peer's TSecr
  uint32_t our_mss = 0;           // the MSS option ustack sent
  std::optional<uint8_t> our_ws;  // the window scale ustack sent
  bool our_sack_ok = false;

  // The peer's next segment (not sent; seq = nxt, ack = rcv).
  Seg seg(TcpFlags f, std::vector<uint8_t> data = {}) {
    Seg s{.flags = f,
          .seq = nxt,
          .ack = rcv,
          .sport = pport,
          .dport = lport,
          .data = std::move(data),
          .win = win};
    if (ts) s.opts.timestamps = wire::TcpTimestamps{++tsval, ts_recent};
    return s;
  }
  // Records a segment ustack sent: RCV.NXT moves to its end (never back) and TS.Recent follows.
  void saw(const Out& o) {
    if (o.h.flags.rst()) return;
    if (SeqNum{o.end()} > SeqNum{rcv}) rcv = o.end();
    if (o.h.options.timestamps) ts_recent = o.h.options.timestamps->tsval;
  }
};

// Options a peer puts on its SYN.
struct SynOpts {
  std::optional<uint16_t> mss = 1460;
  std::optional<uint8_t> ws = 7;
  bool sack = true;
  bool ts = true;
};

inline TcpOptions syn_options(const SynOpts& o, uint32_t tsval, uint32_t tsecr = 0) {
  TcpOptions t;
  t.mss = o.mss;
  t.window_scale = o.ws;
  t.sack_permitted = o.sack;
  if (o.ts) t.timestamps = wire::TcpTimestamps{tsval, tsecr};
  return t;
}

// An ICMP destination unreachable from `reporter` quoting the first 28 bytes of `o` (a router
// on the path answering one of ustack's segments), e.g. RFC 1191 fragmentation needed.
inline std::vector<uint8_t> icmp_unreach(const Out& o, wire::DstUnreachable code, uint16_t mtu = 0,
                                         Ipv4Addr reporter = kPeer) {
  auto q =
      wire::IcmpQuote::parse(std::span(o.datagram).first(std::min<size_t>(28, o.datagram.size())));
  EXPECT_TRUE(q.ok());
  if (!q) return {};
  wire::IcmpRepr r{wire::IcmpDstUnreachable{code, mtu, *q}};
  std::vector<uint8_t> d(r.buffer_len());
  r.emit(d);
  return stacktest::frame(stacktest::Pkt{.src = reporter, .dst = kUs, .proto = 1, .payload = d});
}

class TcpHarness : public stacktest::HostHarness {
 public:
  explicit TcpHarness(uint32_t mtu = 1500) : HostHarness(stack::StackConfig{}, mtu) {}

  TcpLayer& tcp() { return stack().tcp(); }
  TcpConfig& cfg() { return tcp().config(); }
  const transport::TcpMib& mib() { return tcp().mib(); }
  uint64_t drops(DropReason r) { return stack().telemetry().drops().get(r); }

  // Injects one segment and lets the stack process it (and its answers cross the link).
  void send(const Seg& s) {
    ++segs_sent_;
    send_frame(tcp_frame(s));
  }
  void send_frame(const std::vector<uint8_t>& f) {
    if (f.empty()) return;
    inject(f);
    run_for(Duration::us(100));
  }
  // The peer sends c's next segment; nxt advances by its length.
  void send(Conn& c, TcpFlags f, std::vector<uint8_t> data = {}) {
    Seg s = c.seg(f, std::move(data));
    c.nxt += static_cast<uint32_t>(s.data.size()) + (f.syn() ? 1 : 0) + (f.fin() ? 1 : 0);
    send(s);
  }

  // Every TCP segment ustack sent since the last call (other frames are kept in others()).
  // Runs the clock 20 µs first so that segments sent by a call the test just made (connect,
  // send, close) have crossed the link.
  std::vector<Out> out() {
    run_for(Duration::us(20));
    std::vector<Out> v;
    for (auto& f : take()) {
      if (!f.ip || f.ip->protocol != 6) {
        others_.push_back(std::move(f));
        continue;
      }
      auto seg = f.l4().first(f.ip->payload_len);
      auto tv = wire::TcpView::parse(seg);
      EXPECT_TRUE(tv.ok()) << "ustack sent a malformed TCP header";
      if (!tv) continue;
      // RFC 9293 MUST-2: every segment ustack sends carries a correct checksum.
      auto r = TcpRepr::parse(*tv, wire::Ipv4Pseudo{f.ip->src, f.ip->dst});
      EXPECT_TRUE(r.ok()) << "ustack sent a TCP segment with a bad checksum or options";
      if (!r) continue;
      ++segs_seen_;
      Out o{*f.ip, *r, {tv->payload().begin(), tv->payload().end()}, {}};
      o.datagram.assign(f.bytes.begin() + 14,
                        f.bytes.begin() + 14 + 20 + static_cast<long>(f.ip->payload_len));
      // MUST-65: MSS only on SYNs.
      EXPECT_TRUE(o.h.flags.syn() || !o.h.options.mss) << "MSS option on a non-SYN: " << o.str();
      v.push_back(std::move(o));
    }
    return v;
  }
  // The same, also recording each segment in c (Conn::saw).
  std::vector<Out> out(Conn& c) {
    auto v = out();
    for (const auto& o : v) c.saw(o);
    return v;
  }
  // Exactly one segment (a failure otherwise; a default Out when none).
  Out one() {
    auto v = out();
    EXPECT_EQ(v.size(), 1u) << describe(v);
    return v.empty() ? Out{} : v.front();
  }
  Out one(Conn& c) {
    auto v = out(c);
    EXPECT_EQ(v.size(), 1u) << describe(v);
    return v.empty() ? Out{} : v.front();
  }
  // Asserts ustack sent no TCP segment since the last call.
  void silent(const char* why = "") {
    auto v = out();
    EXPECT_TRUE(v.empty()) << why << describe(v);
  }
  std::vector<stacktest::Sent>& others() { return others_; }
  // TCP segments the test injected with send(Seg) and ustack segments out() has parsed.
  uint64_t segs_sent() const { return segs_sent_; }
  uint64_t segs_seen() const { return segs_seen_; }

  // ---- getting a socket into a state -------------------------------------------------------
  TcpSocket* listen(uint16_t port = kPort, int backlog = 16) {
    TcpSocket* l = tcp().open();
    EXPECT_TRUE(l->bind(kUs, port).ok());
    EXPECT_TRUE(l->listen(backlog).ok());
    return l;
  }

  // LISTEN -> SYN-RECEIVED: the peer's SYN from `pport`; returns the SYN-ACK. The listener
  // must exist (listen()).
  Out syn_to_listener(Conn& c, const SynOpts& o = {}) {
    c.nxt = c.irs;
    Seg s{.flags = kSyn, .seq = c.irs, .ack = 0, .win = c.win};
    s.sport = c.pport;
    s.dport = c.lport;
    s.opts = syn_options(o, c.tsval);
    send(s);
    c.nxt = c.irs + 1;
    auto v = out();
    EXPECT_EQ(v.size(), 1u) << describe(v);
    if (v.empty()) return Out{};
    const Out& sa = v.front();
    EXPECT_EQ(sa.flags(), kSynAck) << sa.str();
    EXPECT_EQ(sa.ack(), c.irs + 1);
    c.iss = sa.seq();
    c.rcv = sa.seq() + 1;
    c.ts = o.ts && sa.h.options.timestamps.has_value();
    if (sa.h.options.timestamps) c.ts_recent = sa.h.options.timestamps->tsval;
    c.our_mss = sa.h.options.mss.value_or(0);
    c.our_ws = sa.h.options.window_scale;
    c.our_sack_ok = sa.h.options.sack_permitted;
    return sa;
  }

  // LISTEN -> ... -> ESTABLISHED through the listener, accepted. Creates the listener on
  // c.lport unless one is given.
  Conn passive_open(const SynOpts& o = {}, TcpSocket* listener = nullptr, Conn c = {}) {
    c.listener = listener != nullptr ? listener : listen(c.lport);
    syn_to_listener(c, o);
    send(c, kAck);
    silent("the handshake's ACK needs no answer");
    auto a = c.listener->accept();
    EXPECT_TRUE(a.ok());
    c.s = a.ok() ? *a : nullptr;
    if (c.s != nullptr) {
      EXPECT_EQ(c.s->state(), TcpState::kEstablished);
    }
    return c;
  }

  // CLOSED -> SYN-SENT: connect() to the peer; returns ustack's SYN.
  Out connect(Conn& c) {
    c.s = tcp().open();
    auto r = c.s->connect(now(), kPeer, c.pport);
    EXPECT_TRUE(r.ok());
    c.lport = c.s->local_port();
    Out syn = one();
    EXPECT_EQ(syn.flags(), kSyn) << syn.str();
    c.iss = syn.seq();
    c.rcv = syn.seq() + 1;
    c.our_mss = syn.h.options.mss.value_or(0);
    c.our_ws = syn.h.options.window_scale;
    c.our_sack_ok = syn.h.options.sack_permitted;
    if (syn.h.options.timestamps) c.ts_recent = syn.h.options.timestamps->tsval;
    return syn;
  }

  // CLOSED -> SYN-SENT -> ESTABLISHED: the peer answers connect()'s SYN with a SYN-ACK.
  Conn active_open(const SynOpts& o = {}, Conn c = {}) {
    Out syn = connect(c);
    Seg sa{.flags = kSynAck, .seq = c.irs, .ack = c.iss + 1, .win = c.win};
    sa.sport = c.pport;
    sa.dport = c.lport;
    TcpOptions t;
    t.mss = o.mss;
    if (syn.h.options.window_scale) t.window_scale = o.ws;
    t.sack_permitted = o.sack && syn.h.options.sack_permitted;
    if (o.ts && syn.h.options.timestamps) {
      t.timestamps = wire::TcpTimestamps{c.tsval, syn.h.options.timestamps->tsval};
      c.ts = true;
    }
    sa.opts = t;
    send(sa);
    c.nxt = c.irs + 1;
    Out ack = one(c);
    EXPECT_EQ(ack.flags(), kAck) << ack.str();
    EXPECT_EQ(ack.ack(), c.irs + 1);
    EXPECT_EQ(ack.seq(), c.iss + 1);
    EXPECT_EQ(c.s->state(), TcpState::kEstablished);
    return c;
  }

  // CLOSED -> SYN-SENT -> SYN-RECEIVED by simultaneous open: connect(), then the peer's own
  // SYN crosses ours; returns ustack's SYN-ACK (<SEQ=ISS><ACK=RCV.NXT>). The peer's ACK (or
  // SYN-ACK) then makes it ESTABLISHED.
  Out simultaneous_open(Conn& c) {
    connect(c);
    Seg syn{.flags = kSyn, .seq = c.irs, .sport = c.pport, .dport = c.lport};
    syn.opts.mss = 1460;
    send(syn);
    c.nxt = c.irs + 1;
    Out sa = one(c);
    EXPECT_EQ(sa.flags(), kSynAck) << sa.str();
    EXPECT_EQ(sa.seq(), c.iss);
    EXPECT_EQ(sa.ack(), c.irs + 1);
    EXPECT_EQ(c.s->state(), TcpState::kSynReceived);
    return sa;
  }

  // ESTABLISHED -> FIN-WAIT-1 (shutdown(SHUT_WR): the socket stays ours to inspect).
  Out to_fin_wait_1(Conn& c) {
    EXPECT_TRUE(c.s->shutdown(now(), transport::kShutWr).ok());
    Out fin = one(c);
    EXPECT_EQ(fin.flags_no_psh(), kFinAck) << fin.str();
    EXPECT_EQ(c.s->state(), TcpState::kFinWait1);
    return fin;
  }
  // -> FIN-WAIT-2: the peer ACKs our FIN.
  void to_fin_wait_2(Conn& c) {
    to_fin_wait_1(c);
    send(c, kAck);
    silent("an ACK of our FIN needs no answer");
    EXPECT_EQ(c.s->state(), TcpState::kFinWait2);
  }
  // -> TIME-WAIT: FIN-WAIT-2, then the peer's FIN, which ustack ACKs.
  void to_time_wait(Conn& c) {
    to_fin_wait_2(c);
    send(c, kFinAck);
    Out a = one(c);
    EXPECT_EQ(a.flags(), kAck) << a.str();
    EXPECT_EQ(a.ack(), c.nxt);
    EXPECT_EQ(c.s->state(), TcpState::kTimeWait);
  }
  // -> CLOSE-WAIT: the peer's FIN, ACKed.
  void to_close_wait(Conn& c) {
    send(c, kFinAck);
    auto v = out(c);
    EXPECT_FALSE(v.empty()) << "the peer's FIN must be acknowledged";
    if (!v.empty()) {
      EXPECT_EQ(v.back().ack(), c.nxt) << v.back().str();
    }
    EXPECT_EQ(c.s->state(), TcpState::kCloseWait);
  }
  // -> LAST-ACK: CLOSE-WAIT, then our FIN.
  Out to_last_ack(Conn& c) {
    to_close_wait(c);
    EXPECT_TRUE(c.s->shutdown(now(), transport::kShutWr).ok());
    Out fin = one(c);
    EXPECT_EQ(fin.flags_no_psh(), kFinAck) << fin.str();
    EXPECT_EQ(c.s->state(), TcpState::kLastAck);
    return fin;
  }
  // -> CLOSING: FIN-WAIT-1, then the peer's FIN that does not ACK ours (simultaneous close).
  void to_closing(Conn& c) {
    Out fin = to_fin_wait_1(c);
    Seg s = c.seg(kFinAck);
    s.ack = fin.seq();  // acknowledges everything but our FIN
    c.nxt += 1;
    send(s);
    Out a = one(c);
    EXPECT_EQ(a.flags_no_psh() == kAck || a.flags_no_psh() == kFinAck, true) << a.str();
    EXPECT_EQ(a.ack(), c.nxt);
    EXPECT_EQ(c.s->state(), TcpState::kClosing);
  }

  // Sends `n` bytes from ustack's socket and returns the segments that left.
  std::vector<Out> app_send(Conn& c, const std::vector<uint8_t>& data) {
    auto r = c.s->send(now(), data);
    EXPECT_TRUE(r.ok());
    if (r.ok()) {
      EXPECT_EQ(*r, data.size());
    }
    return out(c);
  }
  // Reads everything ustack's socket holds.
  std::vector<uint8_t> app_recv(Conn& c, size_t max = 1 << 20) {
    std::vector<uint8_t> buf(max);
    auto r = c.s->recv(now(), buf);
    if (!r.ok()) return {};
    buf.resize(*r);
    return buf;
  }

 private:
  std::vector<stacktest::Sent> others_;
  uint64_t segs_sent_ = 0;
  uint64_t segs_seen_ = 0;
};

}  // namespace ustack::tcptest
