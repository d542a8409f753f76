// tests/unit/sim/tcp_scenario.h — TCP applications for simulated-network tests, written
// against the public API of transport/tcp.h only: TcpPeer (one end of a connection that sends
// a buffer and reads everything, driven by its socket's wakeups or by the scenario loop),
// TcpServer (a listener that accepts into TcpPeers), and what a capture says about TCP.
//
// A TcpPeer follows a PeerPlan: send `out` (after `send_after` bytes have arrived, for
// request/response), then shutdown(SHUT_WR) if `fin_after_send`; read until EOF (or until
// `close_after_recv` bytes); when both are done, close() the socket. It records every byte
// received, the virtual time of each step and the longest gap between two receive progresses
// (a stall), so a test can compare content byte for byte and bound completion times.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "scenario.h"
#include "ustack/transport/tcp.h"
#include "ustack/wire/tcp.h"

namespace ustack::sim::test {

using transport::TcpLayer;
using transport::TcpSocket;
using transport::TcpState;

// Bytes from a seeded generator: a misplaced, duplicated or corrupted segment shows.
inline std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> v(n);
  Rng r(seed);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x = r.next_u64();
    for (int k = 0; k < 8; ++k) v[i + k] = static_cast<uint8_t>(x >> (8 * k));
  }
  for (; i < n; ++i) v[i] = static_cast<uint8_t>(r.next_u32());
  return v;
}

// Where two buffers first differ ("" if equal): a readable failure for multi-MiB compares.
inline std::string first_difference(const std::vector<uint8_t>& want,
                                    const std::vector<uint8_t>& got) {
  if (want == got) return {};
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  return "sizes " + std::to_string(want.size()) + " vs " + std::to_string(got.size()) +
         ", first difference at byte " + std::to_string(i);
}

struct PeerPlan {
  std::vector<uint8_t> out;    // what this end sends
  size_t send_after = 0;       // start sending once this many bytes have arrived
  bool fin_after_send = true;  // shutdown(SHUT_WR) as soon as `out` is all queued
  // Close once this many bytes arrived and `out` is queued, without waiting for EOF (the
  // active close of a client that knows the response length). nullopt: read until EOF.
  std::optional<size_t> close_after_recv;
  // Bytes read per pump(); reads only happen in pump() called by the test (a slow reader)
  // when read_on_wakeup is false.
  size_t read_budget = std::numeric_limits<size_t>::max();
  bool read_on_wakeup = true;
  size_t read_chunk = 65536;  // the application's recv() buffer
  size_t rcvbuf = 0;          // SO_RCVBUF before connect (0: the default)
};

class TcpPeer {
 public:
  // Takes over `s` (already connecting or accepted): installs the wakeup and pumps once.
  TcpPeer(TcpLayer& layer, TcpSocket* s, PeerPlan plan, Instant now)
      : layer_(layer), s_(s), plan_(std::move(plan)), buf_(plan_.read_chunk) {
    started_ = now;
    peer_port_ = s_->peer_port();
    s_->set_wakeup([this](Instant t, uint32_t mask) { on_wakeup(t, mask); });
    step(now, plan_.read_on_wakeup);
  }
  ~TcpPeer() {
    if (s_ != nullptr) s_->set_wakeup({});
  }
  TcpPeer(const TcpPeer&) = delete;
  TcpPeer& operator=(const TcpPeer&) = delete;

  // A client: open, connect, and follow `plan`.
  static std::unique_ptr<TcpPeer> connect(TcpLayer& layer, Instant now, Ipv4Addr dst, uint16_t port,
                                          PeerPlan plan) {
    TcpSocket* s = layer.open();
    if (plan.rcvbuf != 0) s->set_rcvbuf(plan.rcvbuf);
    auto r = s->connect(now, dst, port);
    EXPECT_TRUE(r.ok()) << "connect: errno " << (r.ok() ? 0 : r.error());
    return std::make_unique<TcpPeer>(layer, s, std::move(plan), now);
  }

  // The scenario loop's turn: send what fits, read up to read_budget bytes.
  void pump(Instant now) { step(now, true); }

  TcpSocket* socket() const { return s_; }           // nullptr once closed
  uint16_t peer_port() const { return peer_port_; }  // as accepted (0 for a client)
  const std::vector<uint8_t>& received() const { return rx_; }
  size_t sent() const { return off_; }
  bool eof() const { return eof_; }
  bool closed() const { return s_ == nullptr; }
  // Everything sent and read, socket closed.
  bool done() const { return closed() && error_ == 0; }
  int error() const { return error_; }
  Instant started() const { return started_; }
  Instant established_at() const { return established_at_; }
  Instant eof_at() const { return eof_at_; }
  Instant closed_at() const { return closed_at_; }
  Instant last_rx() const { return last_rx_; }
  // Longest time between two receive progresses (or from establishment to the first byte).
  Duration max_rx_gap() const { return max_gap_; }
  uint64_t wakeups() const { return wakeups_; }

 private:
  void on_wakeup(Instant now, uint32_t mask) {
    ++wakeups_;
    if ((mask & transport::kPollErr) != 0) {
      int e = s_->take_error();
      if (e != 0) error_ = e;
    }
    step(now, plan_.read_on_wakeup);
  }

  void note_rx(Instant now) {
    Instant from = last_rx_ == Instant::never() ? established_at_ : last_rx_;
    if (from != Instant::never()) max_gap_ = std::max(max_gap_, now - from);
    last_rx_ = now;
  }

  void step(Instant now, bool read) {
    if (s_ == nullptr) return;
    const TcpState st = s_->state();
    if (established_at_ == Instant::never() && transport::tcp_synchronized(st))
      established_at_ = now;
    if (st == TcpState::kClosed && established_at_ != Instant::never() && error_ == 0) {
      // CLOSED after the connection was up: fine after an orderly close of both directions
      // (our FIN acknowledged in LAST-ACK, the peer's FIN read); otherwise it is an error.
      const int e = s_->take_error();
      if (e != 0) {
        error_ = e;
      } else if (!eof_ || off_ != plan_.out.size()) {
        error_ = -1;  // closed under us with no error reported
      }
    }
    if (error_ != 0) return finish(now);
    if (read) read_some(now);
    if (s_ == nullptr) return;
    write_some(now);
    if (s_ == nullptr) return;
    const bool sent_all = off_ == plan_.out.size();
    const bool read_all = eof_ || (plan_.close_after_recv && rx_.size() >= *plan_.close_after_recv);
    if (sent_all && read_all) finish(now);
  }

  void read_some(Instant now) {
    if (eof_ || !transport::tcp_synchronized(s_->state())) return;
    size_t budget = plan_.read_budget;
    bool progressed = false;
    while (budget > 0) {
      const size_t want = std::min(budget, buf_.size());
      auto r = s_->recv(now, std::span<uint8_t>(buf_.data(), want));
      if (!r) {
        if (r.error() != EAGAIN) error_ = r.error();
        break;
      }
      if (*r == 0) {
        eof_ = true;
        eof_at_ = now;
        break;
      }
      rx_.insert(rx_.end(), buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(*r));
      budget -= *r;
      progressed = true;
    }
    if (progressed) note_rx(now);
  }

  void write_some(Instant now) {
    if (rx_.size() < plan_.send_after) return;
    if (!transport::tcp_synchronized(s_->state())) return;
    while (off_ < plan_.out.size()) {
      auto r = s_->send(now, std::span<const uint8_t>(plan_.out).subspan(off_));
      if (!r) {
        if (r.error() != EAGAIN) error_ = r.error();
        return;
      }
      if (*r == 0) return;
      off_ += *r;
    }
    if (plan_.fin_after_send && !shut_) {
      shut_ = true;
      auto r = s_->shutdown(now, transport::kShutWr);
      if (!r) error_ = r.error();
    }
  }

  void finish(Instant now) {
    s_->set_wakeup({});
    layer_.close(now, s_);
    s_ = nullptr;
    closed_at_ = now;
  }

  TcpLayer& layer_;
  TcpSocket* s_;
  PeerPlan plan_;
  std::vector<uint8_t> buf_;
  std::vector<uint8_t> rx_;
  size_t off_ = 0;
  uint16_t peer_port_ = 0;
  bool shut_ = false;
  bool eof_ = false;
  int error_ = 0;
  uint64_t wakeups_ = 0;
  Instant started_ = Instant::never();
  Instant established_at_ = Instant::never();
  Instant eof_at_ = Instant::never();
  Instant closed_at_ = Instant::never();
  Instant last_rx_ = Instant::never();
  Duration max_gap_ = Duration::zero();
};

// A listener on `port` that accepts every connection into a TcpPeer following plan_for(i, s)
// (i counts accepted connections from 0; s is the accepted socket, whose peer port tells
// concurrent clients apart).
class TcpServer {
 public:
  using PlanFn = std::function<PeerPlan(size_t index, const TcpSocket& s)>;
  TcpServer(TcpLayer& layer, uint16_t port, PlanFn plan_for, int backlog = 128)
      : layer_(layer), plan_for_(std::move(plan_for)) {
    l_ = layer_.open();
    EXPECT_TRUE(l_->bind(Ipv4Addr::any(), port).ok());
    EXPECT_TRUE(l_->listen(backlog).ok());
    l_->set_wakeup([this](Instant now, uint32_t) { accept_all(now); });
  }
  ~TcpServer() {
    if (l_ != nullptr) l_->set_wakeup({});
  }
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  void accept_all(Instant now) {
    if (l_ == nullptr) return;
    while (true) {
      auto c = l_->accept();
      if (!c) {
        EXPECT_EQ(c.error(), EAGAIN);
        return;
      }
      peers_.push_back(std::make_unique<TcpPeer>(layer_, *c, plan_for_(peers_.size(), **c), now));
    }
  }
  // close(2) on the listener.
  void stop(Instant now) {
    if (l_ == nullptr) return;
    l_->set_wakeup({});
    layer_.close(now, l_);
    l_ = nullptr;
  }
  TcpSocket* listener() const { return l_; }
  size_t accepted() const { return peers_.size(); }
  TcpPeer& peer(size_t i) { return *peers_.at(i); }
  bool all_done() const {
    return std::all_of(peers_.begin(), peers_.end(), [](const auto& p) { return p->done(); });
  }

 private:
  TcpLayer& layer_;
  PlanFn plan_for_;
  TcpSocket* l_ = nullptr;
  std::vector<std::unique_ptr<TcpPeer>> peers_;
};

// ---- one transfer, start to finish -----------------------------------------------------------

struct TransferSpec {
  size_t up = 0;      // client -> server bytes
  size_t down = 0;    // server -> client bytes (sent at once: both directions simultaneously)
  uint64_t seed = 1;  // content seed
  uint16_t port = 5001;
  Duration limit = Duration::s(600);  // virtual time allowed
};

struct TransferOutcome {
  bool completed = false;
  Instant start, end;  // connect() and the later of the two closes
  Duration elapsed() const { return end - start; }
  Duration max_gap;  // longest receive stall on either side
  int client_error = 0, server_error = 0;
};

// What a host's TCP holds, for failure messages: ss -tan plus each socket's TCP_INFO.
inline std::string describe_tcp(World& w, std::string_view host) {
  return std::string(host) + ":\n" + w.host(host).tcp().format() +
         w.host(host).tcp().format_netstat();
}

// A client on `client` connects to `server_addr`:port on `server`; each side sends its bytes
// (random, from spec.seed) and reads until EOF; both close. Compares the bytes each side got
// with what the other sent (EXPECTs). Runs the world until both are closed or spec.limit.
inline TransferOutcome run_transfer(World& w, std::string_view client, std::string_view server,
                                    Ipv4Addr server_addr, const TransferSpec& spec) {
  const std::vector<uint8_t> up = random_bytes(spec.up, spec.seed * 2 + 1);
  const std::vector<uint8_t> down = random_bytes(spec.down, spec.seed * 2 + 2);
  TcpServer srv(w.host(server).tcp(), spec.port, [&](size_t, const TcpSocket&) {
    return PeerPlan{.out = down, .fin_after_send = !down.empty()};
  });
  TransferOutcome o;
  o.start = w.now();
  auto cli = TcpPeer::connect(w.host(client).tcp(), w.now(), server_addr, spec.port,
                              PeerPlan{.out = up, .fin_after_send = !up.empty()});
  o.completed =
      w.run_until([&] { return cli->closed() && srv.accepted() == 1 && srv.peer(0).closed(); },
                  o.start + spec.limit);
  o.end = w.now();
  o.client_error = cli->error();
  EXPECT_TRUE(o.completed) << "up " << spec.up << " down " << spec.down << ": client got "
                           << cli->received().size() << ", server got "
                           << (srv.accepted() ? srv.peer(0).received().size() : 0) << " at "
                           << w.now().to_string() << ", next event "
                           << (w.next_event() == Instant::never() ? std::string("never")
                                                                  : w.next_event().to_string())
                           << "\n"
                           << describe_tcp(w, client) << describe_tcp(w, server);
  EXPECT_EQ(cli->error(), 0);
  EXPECT_EQ(first_difference(down, cli->received()), "") << "server -> client";
  o.max_gap = cli->max_rx_gap();
  if (srv.accepted() == 1) {
    TcpPeer& p = srv.peer(0);
    o.server_error = p.error();
    EXPECT_EQ(p.error(), 0);
    EXPECT_EQ(first_difference(up, p.received()), "") << "client -> server";
    o.max_gap = std::max(o.max_gap, p.max_rx_gap());
  } else {
    ADD_FAILURE() << "accepted " << srv.accepted() << " connections";
  }
  srv.stop(w.now());
  return o;
}

// ---- what a capture says about TCP ---------------------------------------------------------

struct TcpSeen {
  Instant ts;
  Ipv4Addr src, dst;
  uint16_t ip_total_len;
  bool df;
  uint16_t sport, dport;
  wire::SeqNum seq, ack;
  wire::TcpFlags flags;
  uint16_t window;
  size_t payload;
  bool checksum_ok;
};
inline std::vector<TcpSeen> tcp_frames(const std::vector<dev::PcapRecord>& recs) {
  std::vector<TcpSeen> out;
  for (const auto& r : recs) {
    auto e = wire::EthernetView::parse(r.data);
    if (!e || e->ethertype() != wire::to_u16(wire::EtherType::kIpv4)) continue;
    auto v = wire::Ipv4View::parse(e->payload());
    if (!v || v->protocol() != 6 || v->is_fragment()) continue;
    auto t = wire::TcpView::parse(v->payload());
    if (!t) continue;
    const wire::Ipv4Pseudo ph{v->src(), v->dst()};
    out.push_back({r.ts, v->src(), v->dst(), v->total_len(), v->dont_frag(), t->src_port(),
                   t->dst_port(), t->seq(), t->ack(), t->flags(), t->window(), t->payload().size(),
                   t->checksum_ok(ph)});
  }
  return out;
}

// Both stacks' TCP tables hold nothing: every socket closed, TIME-WAIT expired, no request.
inline void expect_tcp_empty(World& w, std::initializer_list<const char*> hosts) {
  for (const char* h : hosts) {
    SCOPED_TRACE(h);
    EXPECT_EQ(w.host(h).tcp().sockets(), 0u) << w.host(h).tcp().format();
    EXPECT_EQ(w.host(h).tcp().requests(), 0u);
    EXPECT_EQ(w.host(h).tcp().mib().curr_estab, 0u);
  }
}

}  // namespace ustack::sim::test
