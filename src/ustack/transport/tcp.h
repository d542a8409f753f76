// transport/tcp.h — TCP (RFC 9293) for one stack: TcpSocket (Linux's struct tcp_sock: the TCB,
// its queues and timers) and TcpLayer (the protocol: demultiplexing, listeners, SYN queues,
// ports, the timer wheel and the MIB).
//
// Where each part lives (one concern per file, each step labelled with its RFC section):
//   tcp_socket.cc  the calls an application makes (bind, listen, accept, connect, send, recv,
//                  shutdown, close, options), state changes and wakeups
//   tcp_input.cc   SEGMENT ARRIVES (RFC 9293 §3.10.7) for SYN-SENT and the synchronized states
//   tcp_listen.cc  LISTEN: the SYN queue (request sockets), SYN cookies, the accept queue,
//                  TIME-WAIT reuse (RFC 6191), RSTs for segments to no socket
//   tcp_output.cc  building and sending segments: tcp_write_xmit (Nagle, sender SWS, cwnd and
//                  rwnd), window selection (receiver SWS), ACKs, RSTs, retransmission
//   tcp_timer.cc   retransmission, persist, delayed-ACK, keepalive, FIN-WAIT-2, TIME-WAIT
//   tcp_layer.cc   TcpLayer: demux tables, ephemeral ports, ICMP errors (PMTU), views
//
// Buffers. send() copies the application's bytes once, into PacketBuffers of at most one MSS
// with headroom for every header (Linux's tcp_sendmsg); they sit on the write queue until
// ACKed. Each transmission sends a clone (O(1), the bytes are shared) that IP pushes its
// headers onto: "TCP keeps a clone until ACKed" (seed 000). Received in-order payloads are
// queued without a copy (the frame's own buffer, headers pulled) until recv() copies them out.
//
// Threading: a TcpLayer and its sockets belong to the stack's thread. The socket layer (issue
// 5) builds the BSD calls, handles, wait queues and the five I/O models on top of this API:
// every call here is non-blocking and returns Linux errno values; readiness is reported via
// poll_mask() and the wakeup callback (sk_data_ready / sk_write_space / sk_state_change).
//
// Lifetime: TcpLayer::open() creates a socket, TcpLayer::close() hands it back. A closed
// socket lives on as an orphan (FIN-WAIT-*, LAST-ACK, TIME-WAIT) until it reaches CLOSED and
// the layer frees it; the pointer must not be used after close(). accept() returns sockets the
// application then owns the same way.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "ustack/base/rng.h"
#include "ustack/base/telemetry.h"
#include "ustack/base/timer_wheel.h"
#include "ustack/buf/packet_queue.h"
#include "ustack/ip/ipv4.h"
#include "ustack/transport/tcp_cong.h"
#include "ustack/transport/tcp_isn.h"
#include "ustack/transport/tcp_ofo.h"
#include "ustack/transport/tcp_rtt.h"
#include "ustack/transport/tcp_syncookie.h"
#include "ustack/transport/tcp_tcb.h"
#include "ustack/wire/tcp.h"

namespace ustack::transport {

// net.ipv4.tcp_* sysctls (Linux defaults unless noted).
struct TcpConfig {
  Duration time_wait = Duration::s(60);    // 2*MSL (Linux TCP_TIMEWAIT_LEN)
  Duration fin_timeout = Duration::s(60);  // tcp_fin_timeout: orphaned FIN-WAIT-2
  int syn_retries = 6;                     // tcp_syn_retries: SYN sent 1 + 6 times (127 s)
  int synack_retries = 5;                  // tcp_synack_retries
  int retries2 = 15;                       // tcp_retries2: give up (ETIMEDOUT) after these RTOs
  int orphan_retries = 8;                  // tcp_orphan_retries (Linux's 0 means 8)
  bool syncookies = true;                  // tcp_syncookies = 1: cookies when the SYN queue is full
  bool timestamps = true;                  // tcp_timestamps
  bool window_scaling = true;              // tcp_window_scaling
  bool sack = true;                        // tcp_sack
  int somaxconn = 4096;                    // net.core.somaxconn: listen backlog cap
  size_t rmem_default = 131072;            // tcp_rmem[1]: SO_RCVBUF of a new socket
  size_t wmem_default = 262144;  // tcp_wmem[1] is 16384 but Linux autotunes up to 4 MiB; we
                                 // do not autotune, so we start larger
  size_t rmem_max = 6291456;     // tcp_rmem[2]: bounds SO_RCVBUF and sets our window scale
  size_t wmem_max = 4194304;     // tcp_wmem[2]
  Duration delack_min = Duration::ms(40);       // TCP_DELACK_MIN
  Duration delack_max = Duration::ms(200);      // TCP_DELACK_MAX (RFC 9293 allows up to 500 ms)
  Duration keepalive_time = Duration::s(7200);  // tcp_keepalive_time
  Duration keepalive_intvl = Duration::s(75);   // tcp_keepalive_intvl
  int keepalive_probes = 9;                     // tcp_keepalive_probes
  RttConfig rtt;                                // RTO bounds (200 ms .. 120 s, initial 1 s)
  std::string congestion = "newreno";           // tcp_congestion_control
  uint16_t base_mss = 536;                      // tcp_base_mss: MSS floor after PMTU drops
};

// POSIX shutdown(2) `how`.
inline constexpr int kShutRd = 0;
inline constexpr int kShutWr = 1;
inline constexpr int kShutRdWr = 2;

// poll_mask() bits, with the values of Linux's EPOLL* / POLL* constants so the socket layer can
// pass them through unchanged.
inline constexpr uint32_t kPollIn = 0x001;      // EPOLLIN: data, EOF, a pending accept
inline constexpr uint32_t kPollOut = 0x004;     // EPOLLOUT: send buffer space
inline constexpr uint32_t kPollErr = 0x008;     // EPOLLERR: a pending error (SO_ERROR)
inline constexpr uint32_t kPollHup = 0x010;     // EPOLLHUP: both directions shut / CLOSED
inline constexpr uint32_t kPollRdHup = 0x2000;  // EPOLLRDHUP: the peer sent FIN

// getsockopt(TCP_INFO), the fields of Linux's struct tcp_info that we keep.
struct TcpInfo {
  TcpState state = TcpState::kClosed;
  CaState ca_state = CaState::kOpen;
  uint8_t retransmits = 0;  // consecutive RTO expirations now (icsk_retransmits)
  uint8_t backoff = 0;
  bool ts_ok = false, sack_ok = false, wscale_ok = false;
  uint8_t snd_wscale = 0, rcv_wscale = 0;
  uint32_t rto_us = 0, rtt_us = 0, rttvar_us = 0;
  uint32_t snd_mss = 0, rcv_mss = 0;
  uint32_t unacked = 0;                     // segments in flight
  uint32_t snd_cwnd = 0, snd_ssthresh = 0;  // bytes (Linux reports segments)
  uint32_t snd_wnd = 0, rcv_wnd = 0;
  uint64_t total_retrans = 0;
  uint64_t bytes_acked = 0, bytes_received = 0, bytes_sent = 0, bytes_retrans = 0;
  uint64_t segs_out = 0, segs_in = 0;
  uint64_t notsent_bytes = 0;
};

class TcpLayer;
struct TcpRequest;

class TcpSocket {
 public:
  TcpSocket(const TcpSocket&) = delete;
  TcpSocket& operator=(const TcpSocket&) = delete;
  ~TcpSocket();

  // ---- the calls (tcp_socket.cc) ------------------------------------------------------------
  // bind(2): port 0 picks an ephemeral port. EADDRINUSE, EADDRNOTAVAIL (not a local address),
  // EINVAL (already bound or not CLOSED).
  Result<void, int> bind(wire::Ipv4Addr addr, uint16_t port);
  // listen(2): CLOSED -> LISTEN (auto-binds an ephemeral port if unbound). The backlog bounds
  // both the SYN queue and the accept queue (capped by somaxconn, as Linux). Calling it again
  // on a listener only changes the backlog. EINVAL in any other state.
  Result<void, int> listen(int backlog);
  // accept(2): the oldest established connection. EAGAIN when none, EINVAL if not listening.
  Result<TcpSocket*, int> accept();
  // connect(2): CLOSED -> SYN-SENT, SYN sent (the BSD call's EINPROGRESS: the outcome comes
  // later through poll_mask() and take_error()). EISCONN when connected, EALREADY while
  // connecting, EINVAL on a listener, ENETUNREACH/EHOSTUNREACH with no route, EADDRNOTAVAIL
  // when no ephemeral port is free.
  Result<void, int> connect(Instant now, wire::Ipv4Addr addr, uint16_t port);
  // send(2): copies as much of `data` as the send buffer takes; EAGAIN if none. A pending
  // error (ECONNRESET, ETIMEDOUT...) is returned first; EPIPE after shutdown(SHUT_WR) or once
  // the connection is gone; ENOTCONN before connect() (data may be queued in SYN-SENT).
  Result<size_t, int> send(Instant now, std::span<const uint8_t> data);
  // recv(2): copies up to out.size() in-order bytes. 0 is end of stream (the peer's FIN, or
  // shutdown(SHUT_RD)); EAGAIN when nothing is ready; a pending error first; ENOTCONN before
  // connect. `peek` leaves the bytes queued (MSG_PEEK).
  Result<size_t, int> recv(Instant now, std::span<uint8_t> out, bool peek = false);
  // shutdown(2) with kShutRd / kShutWr / kShutRdWr: SHUT_WR sends FIN after queued data.
  // ENOTCONN when not connected, EINVAL for a bad `how`.
  Result<void, int> shutdown(Instant now, int how);
  // SO_ERROR: the pending error, returned once then cleared (0 if none).
  int take_error();

  // ---- options ------------------------------------------------------------------------------
  // TCP_NODELAY. Turning it on pushes data Nagle was holding back at the stack's next poll
  // (Linux's tcp_push_pending_frames from setsockopt).
  void set_nodelay(bool on);
  bool nodelay() const { return nodelay_; }
  void set_keepalive(bool on);           // SO_KEEPALIVE
  void set_keepalive_idle(Duration d);   // TCP_KEEPIDLE
  void set_keepalive_intvl(Duration d);  // TCP_KEEPINTVL
  void set_keepalive_count(int n);       // TCP_KEEPCNT
  bool keepalive() const { return keepalive_; }
  Duration keepalive_idle() const { return Duration::ms(ka_idle_ms_); }
  Duration keepalive_intvl() const { return Duration::ms(ka_intvl_ms_); }
  int keepalive_count() const { return ka_cnt_; }
  // SO_LINGER: nullopt is off (close() sends FIN and returns). {0} makes close() abortive (RST).
  // A positive time is kept for the socket layer's blocking close; linger_done() tells it when
  // everything sent was acknowledged.
  void set_linger(std::optional<Duration> t) { linger_ns_ = t ? t->nanos() : kLingerOff; }
  std::optional<Duration> linger() const {
    if (linger_ns_ == kLingerOff) return std::nullopt;
    return Duration::ns(linger_ns_);
  }
  bool linger_done() const;
  void set_rcvbuf(size_t bytes);  // SO_RCVBUF (clamped to [2 KiB, rmem_max])
  void set_sndbuf(size_t bytes);  // SO_SNDBUF (clamped to [4 KiB, wmem_max])
  size_t rcvbuf() const { return rcvbuf_; }
  size_t sndbuf() const { return sndbuf_; }
  void set_reuseaddr(bool on) { reuseaddr_ = on; }  // SO_REUSEADDR (bind while in TIME-WAIT)
  bool reuseaddr() const { return reuseaddr_; }
  // SO_REUSEPORT: several sockets that all set the option (before bind) may bind the same
  // address and port; listeners on it form a group and each incoming connection goes to one of
  // them, chosen by a keyed hash of its 4-tuple (Linux net/core/sock_reuseport.c).
  void set_reuseport(bool on) { reuseport_ = on; }
  bool reuseport() const { return reuseport_; }
  // TCP_CONGESTION: ENOENT for an unknown algorithm.
  Result<void, int> set_congestion(std::string_view name);
  std::string_view congestion() const;
  void set_mss(uint16_t mss) { user_mss_ = mss; }  // TCP_MAXSEG (before connect/listen)

  // ---- readiness (tcp_poll) -----------------------------------------------------------------
  // kPollIn | kPollOut | kPollErr | kPollHup | kPollRdHup, as Linux's tcp_poll computes them.
  uint32_t poll_mask() const;
  // Called on the stack thread whenever poll_mask() may have changed (data queued, space freed,
  // connection established or reset, an accept ready). One callback: the socket layer fans out.
  using WakeupFn = std::function<void(Instant now, uint32_t mask)>;
  void set_wakeup(WakeupFn fn) {
    wakeup_ = std::move(fn);
    ++wakeup_gen_;
  }

  // ---- state --------------------------------------------------------------------------------
  TcpState state() const { return state_; }
  wire::Ipv4Addr local_addr() const { return t_.laddr; }
  uint16_t local_port() const { return t_.lport; }
  wire::Ipv4Addr peer_addr() const { return t_.raddr; }
  uint16_t peer_port() const { return t_.rport; }
  const SendSequence& snd() const { return snd_; }
  const RecvSequence& rcv() const { return rcv_; }
  const TcpNegotiated& negotiated() const { return opt_; }
  size_t rx_available() const { return rx_bytes_ - rx_consumed_; }  // bytes recv() can read
  size_t tx_queued() const { return write_bytes_; }                 // bytes not yet acknowledged
  size_t tx_space() const;  // send() would take this many bytes
  size_t accept_queue_len() const {
    return listen_ ? listen_->accept_q.size() - listen_->accept_head : 0;
  }
  size_t syn_queue_len() const { return listen_ ? listen_->syn_q_len : 0; }
  int backlog() const { return listen_ ? listen_->backlog : 0; }
  TcpInfo info() const;
  bool orphan() const { return orphan_; }

 private:
  friend class TcpLayer;
  friend struct TcpRequest;

 public:
  struct Segment;  // tcp_internal.h
  struct SkbCb;    // tcp_internal.h

 private:
  TcpSocket(TcpLayer& layer, size_t rcvbuf, size_t sndbuf);

  // ---- tcp_socket.cc
  void set_state(Instant now, TcpState s);
  void wake(Instant now);
  void set_error(Instant now, int err);
  void done(Instant now);           // tcp_done: -> CLOSED, timers off, unhashed, orphans freed
  void init_transfer(Instant now);  // ESTABLISHED: MSS, cwnd, RTO fallback, keepalive
  void close_now(Instant now);      // tcp_close
  // ---- tcp_input.cc
  void segment_arrives(Instant now, Segment& seg);
  void drop(Instant now, const Segment& seg, DropReason why);
  void negotiate(Instant now, const Segment& seg, bool we_offered_all);
  void rcv_syn_sent(Instant now, Segment& seg);
  bool rcv_time_wait(Instant now, Segment& seg);
  bool seq_acceptable(const Segment& seg) const;
  void trim_to_window(Segment& seg);
  void rcv_state_process(Instant now, Segment& seg);
  bool process_ack(Instant now, Segment& seg);
  // Returns the latest transmission time (ns) of a retransmitted skb it freed, or 0.
  int64_t clean_rtx_queue(Instant now, wire::SeqNum ack, std::optional<Duration>& rtt);
  bool oow_rate_limited(Instant now, const Segment& seg);
  void send_oow_ack(Instant now, const Segment& seg);
  void send_challenge_ack(Instant now, const Segment& seg);
  void check_space(Instant now);
  void data_queue(Instant now, Segment& seg);
  void queue_rcv(PacketPtr p, uint32_t len);
  void process_fin(Instant now);
  void enter_time_wait(Instant now);
  void ack_snd_check(Instant now);
  // ---- tcp_output.cc
  void sync_mss(uint32_t pmtu);
  uint32_t rcv_space() const;  // free receive buffer space in payload bytes
  uint16_t select_window();
  uint32_t ts_now(Instant now) const;
  uint32_t ts_at(int64_t ns) const;  // our timestamp clock at `ns`
  void fill_options(wire::TcpOptions& o, wire::TcpFlags flags, Instant now);
  PacketPtr alloc_skb(size_t payload);
  bool fragment_skb(PacketBuffer& skb, uint32_t len);  // tcp_fragment
  bool xmit_skb(Instant now, PacketBuffer& skb, bool retrans);
  bool send_control(Instant now, wire::TcpFlags flags, wire::SeqNum seq);
  void ack_sent(Instant now);
  void send_ack(Instant now);
  void send_rst_active(Instant now);  // <SEQ=SND.NXT><CTL=RST,ACK>
  void send_syn(Instant now);
  void send_fin(Instant now);
  void write_xmit(Instant now);  // tcp_write_xmit
  bool retransmit_head(Instant now);
  void retransmit_all_unacked(Instant now);  // after a PMTU drop
  void pmtu_event(Instant now, uint16_t mtu);
  void cleanup_rbuf(Instant now);
  uint32_t size_goal() const;  // bytes per write-queue skb: the MSS, or a TSO frame's payload
  PacketBuffer* split_skb(PacketBuffer& skb, uint32_t len);  // tso_fragment, copying the less
  // ---- tcp_timer.cc
  void arm_rto(Instant now);
  void arm_persist(Instant now);
  void arm_keepalive(Instant now);
  void arm_fin_wait2(Instant now);
  void on_rtx_timer(Instant now);
  void write_timeout(Instant now);  // the retry limit: ETIMEDOUT
  void probe_timer(Instant now);
  void on_delack_timer(Instant now);
  void on_keepalive_timer(Instant now);

  // The members are grouped by size, largest alignment first, so the compiler adds no padding
  // (Linux keeps struct tcp_sock compact the same way: an idle connection costs what its TCB
  // costs). State that only some sockets need lives out of line and is allocated on first use:
  // the out-of-order queue's state (TcpOfoQueue), a listener's queues (listen_). Buffers are
  // PacketBuffers on the queues, so an idle connection holds none. The C10K test bounds the
  // whole per-connection cost and tcp_tcb_test pins sizeof(TcpSocket).
  TcpLayer& layer_;
  TcpSocket* prev_ = nullptr;  // layer bookkeeping: intrusive list of all sockets
  TcpSocket* next_ = nullptr;
  TcpSocket* parent_ = nullptr;      // listener whose accept queue holds us
  TcpSocket* ehash_next_ = nullptr;  // the layer's established-hash chain
  // Send side: every unacknowledged or unsent byte, in order, as MSS-sized skbs whose cb<SkbCb>
  // holds seq/end_seq; send_head_ is the first skb not yet sent (sk_send_head).
  PacketQueue write_q_;
  PacketBuffer* send_head_ = nullptr;
  PacketQueue rx_;  // receive side: in-order payloads (data() = payload), sk_receive_queue
  TcpOfoQueue ofo_;
  // Listener only (listen() allocates it): the accept queue and the SYN queue's length.
  struct ListenState {
    std::vector<TcpSocket*> accept_q;  // FIFO of established children
    size_t accept_head = 0;
    uint32_t syn_q_len = 0;
    int backlog = 0;
  };
  std::unique_ptr<ListenState> listen_;
  TcpCongestion cc_;  // the congestion control algorithm, in place
  WakeupFn wakeup_;
  // Loss detection and recovery.
  RttEstimator rtt_;
  // Timers.
  TimerNode rtx_timer_;        // retransmission / persist (icsk_retransmit_timer)
  TimerNode delack_timer_;     // delayed ACK (icsk_delack_timer)
  TimerNode keepalive_timer_;  // keepalive, FIN-WAIT-2, TIME-WAIT (sk_timer)
  // Per-connection counters (TCP_INFO; the other TcpInfo fields are computed by info()).
  struct Stats {
    uint64_t bytes_acked = 0, bytes_received = 0, bytes_sent = 0, bytes_retrans = 0;
    // 32 bits as Linux's tcp_sock (segs_in, segs_out, total_retrans): they wrap, as Linux's.
    uint32_t total_retrans = 0, segs_out = 0;
  } stats_;
  static constexpr int64_t kLingerOff = INT64_MIN;
  int64_t linger_ns_ = kLingerOff;  // SO_LINGER: its time in ns, or kLingerOff
  Instant rcv_tstamp_;              // last segment received (keepalive idle time)
  Instant last_oow_ack_;            // last rate-limited ACK (tcp_oow_rate_limited)
  TcpNegotiated opt_;
  SendSequence snd_;
  RecvSequence rcv_;
  FastRecovery rec_;
  TcpFourTuple t_;
  wire::SeqNum write_seq_;      // tp->write_seq: the sequence number of the next byte queued
  wire::SeqNum snd_max_;        // highest SND.NXT ever (SND.NXT goes back to SND.UNA on an RTO)
  wire::SeqNum snd_sml_;        // end of the last short segment sent (Nagle, Minshall's variant)
  wire::SeqNum ofo_fin_seq_;    // a FIN that arrived out of order, at this seq (if ofo_fin_)
  wire::SeqNum last_ack_sent_;  // RCV.NXT in the last ACK (RFC 7323 Last.ACK.sent)
  uint32_t mss_cache_ = 536;    // payload bytes per segment now (MSS minus our option bytes)
  uint32_t rcv_mss_ = 536;      // estimate of the peer's segment size (delayed ACK heuristics)
  uint32_t ts_offset_ = 0;
  uint32_t pmtu_ = 576;  // path MTU to the peer
  // Buffer sizes and byte counts: 32 bits, as Linux's sk_rcvbuf / sk_sndbuf (ints). The
  // buffers are at most rmem_max / wmem_max, themselves at most INT_MAX (TcpLayer::rmem_max),
  // so what is queued on them fits too.
  uint32_t rcvbuf_, sndbuf_;
  uint32_t write_bytes_ = 0;        // payload bytes on write_q_
  uint32_t rx_consumed_ = 0;        // bytes of rx_.front() already read
  uint32_t rx_bytes_ = 0;           // payload bytes on rx_ (coalescing appends to queued buffers)
  uint32_t ack_pending_bytes_ = 0;  // delayed ACK (icsk_ack): received, not yet acknowledged
  uint32_t wakeup_gen_ = 0;         // bumped by set_wakeup (a callback may replace itself)
  uint32_t segs_in_ = 0;            // TCP_INFO's segs_in (with stats_)
  // TCP_KEEPIDLE / TCP_KEEPINTVL in ms, 32 bits, as Linux keeps them (jiffies in tcp_sock):
  // the socket option's limit is 32767 s.
  uint32_t ka_idle_ms_ = 0, ka_intvl_ms_ = 0;
  uint16_t peer_mss_ = 536;  // the MSS option the peer sent (a 16-bit option)
  uint16_t user_mss_ = 0;
  uint16_t adv_mss_ = 536;  // the MSS option we sent
  TcpState state_ = TcpState::kClosed;
  enum class RtxKind : uint8_t { kNone, kRetrans, kProbe } rtx_kind_ = RtxKind::kNone;
  uint8_t retransmits_ = 0;  // RTO expirations without progress (icsk_retransmits)
  uint8_t probes_out_ = 0;   // zero-window / keepalive probes without answer
  uint8_t ka_cnt_ = 0;       // TCP_KEEPCNT, 1..255 (Linux caps it at 127)
  // errno values fit 8 bits (Linux's largest is EHWPOISON, 133).
  uint8_t error_ = 0;       // sk_err
  uint8_t soft_error_ = 0;  // sk_err_soft: last ICMP error while connecting
  // Flags, one bit each.
  bool bound_ : 1 = false;   // bind() or auto-bind took a port
  bool hashed_ : 1 = false;  // in the layer's established table
  bool orphan_ : 1 = false;
  bool nodelay_ : 1 = false;
  bool reuseaddr_ : 1 = false;
  bool reuseport_ : 1 = false;
  bool keepalive_ : 1 = false;
  bool shut_rd_ : 1 = false;   // shutdown(SHUT_RD) or the peer's FIN was read
  bool shut_wr_ : 1 = false;   // shutdown(SHUT_WR) / close: FIN queued
  bool fin_rcvd_ : 1 = false;  // the peer's FIN is in sequence (EOF after the queued data)
  bool fin_queued_ : 1 = false;
  bool was_connected_ : 1 = false;  // reached ESTABLISHED once (EPIPE vs ENOTCONN)
  bool ack_now_ : 1 = false;        // delayed ACK: send one now
  bool wake_queued_ : 1 = false;    // on the layer's wakeup list
  bool push_pending_ : 1 = false;   // TCP_NODELAY was set: push queued data at the next poll
  bool bind_explicit_ : 1 = false;  // bind() chose the port (connect() may not share it)
  bool tso_ : 1 = false;            // the route's device does TSO and checksum offload (sk_can_gso)
  bool ofo_fin_ : 1 = false;        // ofo_fin_seq_ holds an out-of-order FIN
  // ACKs to send immediately (slow-start help): at most 16 (init_transfer; Linux's
  // TCP_MAX_QUICKACKS), so 5 bits.
  uint8_t quickack_ : 5 = 0;
};

class TcpLayer final : public ip::L4Handler {
 public:
  static constexpr uint16_t kEphemeralLo = 32768;  // net.ipv4.ip_local_port_range
  static constexpr uint16_t kEphemeralHi = 60999;

  // Registers itself with `ip` for protocol 6.
  TcpLayer(ip::Ipv4Layer& ip, BufferPool& pool, Telemetry& tel, Rng rng, TcpConfig cfg = {});
  ~TcpLayer() override;

  // socket(AF_INET, SOCK_STREAM, 0).
  TcpSocket* open();
  // close(2) (tcp_close): unread data or SO_LINGER {0} -> RST and free; LISTEN -> the
  // listener and its queues go (queued children are reset); otherwise FIN after queued data
  // and the socket lives on as an orphan until CLOSED.
  void close(Instant now, TcpSocket* s);
  // Abortive close: RST (in synchronized states) and free at once.
  void abort(Instant now, TcpSocket* s);

  void rcv(Instant now, PacketPtr pkt) override;
  void err(Instant now, const ip::IcmpError& e) override;
  // Timers: due work at `now`; when to come back.
  void on_timer(Instant now);
  Instant next_deadline() const;
  // Delivers the wakeups queued by segment processing, timers and calls (never re-entrantly:
  // callbacks may call anything, close() included), then frees dead orphans. rcv(), err() and
  // on_timer() end with it; the Stack calls it once per poll for wakeups caused by calls made
  // between polls.
  void run_wakeups(Instant now);

  TcpConfig& config() { return cfg_; }
  // The SO_RCVBUF / SO_SNDBUF bounds, at most INT_MAX as Linux's int sysctls (a socket keeps
  // its buffer sizes in 32 bits).
  size_t rmem_max() const { return std::min<size_t>(cfg_.rmem_max, INT32_MAX); }
  size_t wmem_max() const { return std::min<size_t>(cfg_.wmem_max, INT32_MAX); }
  const TcpMib& mib() const { return mib_; }
  // Every socket the layer holds: open, listening, orphaned, TIME-WAIT (not request socks).
  size_t sockets() const { return nsocks_; }
  // Half-open connections in all SYN queues.
  size_t requests() const { return reqs_.size(); }
  // `ss -tan`-style listing and the /proc/net/snmp "Tcp:" + /proc/net/netstat "TcpExt:" lines.
  std::string format() const;
  std::string format_snmp() const;
  std::string format_netstat() const;

 private:
  friend class TcpSocket;
  friend struct TcpRequest;
  struct Key {
    uint32_t laddr, raddr;
    uint16_t lport, rport;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  static Key key_of(const TcpFourTuple& t) { return {t.laddr.v, t.raddr.v, t.lport, t.rport}; }
  // tcp_layer.cc
  Result<void, int> bind(TcpSocket& s, wire::Ipv4Addr addr, uint16_t port);
  Result<void, int> connect_hash(Instant now, TcpSocket& s);  // pick a port, hash the 4-tuple
  void hash(TcpSocket& s);
  void unhash(TcpSocket& s);
  void release_port(TcpSocket& s);
  TcpSocket* lookup_established(const Key& k) const;
  TcpSocket*& ehash_bucket(const Key& k);
  bool ehash_remove(TcpSocket& s);  // unlinks s from its chain; false if it was not there
  void ehash_grow();
  // The listener for a SYN from saddr:sport to daddr:dport (the 4-tuple picks one member of a
  // SO_REUSEPORT group).
  TcpSocket* lookup_listener(wire::Ipv4Addr daddr, uint16_t dport, wire::Ipv4Addr saddr,
                             uint16_t sport) const;
  void destroy_later(TcpSocket* s);
  void reap();
  void link(TcpSocket* s);
  // tcp_listen.cc
  void listen_rcv(Instant now, TcpSocket& l, TcpSocket::Segment& seg,
                  std::optional<wire::SeqNum> iss = std::nullopt);
  void request_rcv(Instant now, TcpRequest& r, TcpSocket::Segment& seg);
  TcpSocket* create_child(Instant now, TcpSocket& l, const TcpRequest& r);
  void child_established(Instant now, TcpSocket& c);
  void finish_child(Instant now, TcpSocket& c, TcpSocket::Segment& seg);
  void send_synack(Instant now, const TcpRequest& r, bool cookie);
  void on_synack_timer(TcpRequest& r, Instant now);
  void drop_request(TcpRequest& r);
  void listener_stop(Instant now, TcpSocket& l);
  // tcp_output.cc
  // tcp_v4_send_reset: the RST answering `seg` (RFC 9293 §3.10.7.1).
  void send_reset(Instant now, const TcpSocket::Segment& seg);
  // Pushes header + options in front of `pkt` (data() = payload) and hands it to IP.
  // `csum_partial`: leave the checksum to the device (CHECKSUM_PARTIAL; the route's device has
  // checksum offload).
  Result<void, ip::IpError> output(Instant now, PacketPtr pkt, const wire::TcpRepr& h,
                                   wire::Ipv4Addr src, wire::Ipv4Addr dst, uint64_t trace_id,
                                   bool csum_partial = false);

  ip::Ipv4Layer& ip_;
  BufferPool& pool_;
  Telemetry& tel_;
  Rng rng_;
  TcpConfig cfg_;
  TcpIsnGenerator isn_;
  SynCookies cookies_;
  TimerWheel wheel_;
  TcpMib mib_;
  // Connected 4-tuples, TIME-WAIT included (Linux's inet_ehash): buckets of sockets chained
  // through TcpSocket::ehash_next_, so hashing a connection allocates nothing. A power of two
  // of buckets, doubled when the sockets outnumber them.
  std::vector<TcpSocket*> ehash_;
  size_t ehash_count_ = 0;
  std::unordered_map<Key, std::unique_ptr<TcpRequest>, KeyHash> reqs_;  // SYN queues
  std::unordered_map<uint16_t, std::vector<TcpSocket*>> bhash_;         // bound ports
  // Listeners by port, in listen() order (Linux's listening hash); the SO_REUSEPORT listeners
  // of one port and address are a reuseport group, in this order (struct sock_reuseport).
  std::unordered_map<uint16_t, std::vector<TcpSocket*>> lhash_;
  // The reuseport group's hash secret (Linux inet_ehash_secret), drawn from rng_ when the first
  // SO_REUSEPORT listener appears, so runs that never use the option draw exactly as before.
  SipKey reuseport_key_;
  bool reuseport_keyed_ = false;
  TcpSocket* head_ = nullptr;  // every socket (intrusive list)
  size_t nsocks_ = 0;
  std::vector<TcpSocket*> dead_;    // CLOSED orphans, freed by reap()
  std::vector<TcpSocket*> wake_q_;  // sockets whose wakeup is pending
  bool in_wakeups_ = false;         // run_wakeups() is delivering (callbacks may re-enter)
  uint32_t port_hint_ = 0;          // RFC 6056 algorithm 3's next_ephemeral
  Instant last_cookie_;             // when a SYN cookie was last sent (SyncookiesFailed)
};

}  // namespace ustack::transport
