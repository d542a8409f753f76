// transport/tcp_internal.h — what the TCP engine's files share and nobody else needs: the
// parsed incoming segment, the per-skb control block of the write queue, the request socket
// (a half-open connection in a listener's SYN queue) and small helpers.
#pragma once

#include <algorithm>
#include <cstdint>

#include "ustack/transport/tcp.h"

namespace ustack::transport {

// An arriving segment (Linux's TCP_SKB_CB on input): the validated header, the payload
// (pkt->data(), headers pulled) and RFC 9293's SEG.* values.
struct TcpSocket::Segment {
  wire::TcpRepr h;
  PacketPtr pkt;     // data() = payload (may be trimmed to the window)
  wire::SeqNum seq;  // SEG.SEQ (of the first payload octet still in pkt after trimming: +1 if SYN)
  uint32_t len = 0;  // payload octets in pkt
  bool syn = false;  // SYN still counted in this segment
  bool fin = false;  // FIN still counted (cleared when trimmed away)
  wire::Ipv4Addr saddr, daddr;
  uint64_t id = 0;  // trace id
  // SEG.LEN: payload plus SYN and FIN (RFC 9293 §3.4).
  uint32_t seg_len() const { return len + (syn ? 1 : 0) + (fin ? 1 : 0); }
  wire::SeqNum end() const { return seq + seg_len(); }
};

// The control block of a write-queue skb (Linux's tcp_skb_cb).
struct TcpSocket::SkbCb {
  uint32_t seq;      // first sequence number (the SYN's if syn)
  uint32_t end_seq;  // seq + payload + SYN + FIN
  bool syn;
  bool fin;
  uint8_t tx_count;  // transmissions so far (Karn: > 1 means retransmitted)
  int64_t sent_ns;   // time of the last transmission (RTT sample if tx_count == 1)
};

// A half-open connection (Linux's struct tcp_request_sock): what the SYN told us and what our
// SYN-ACK said, kept in the listener's SYN queue until the handshake's ACK, a RST or the
// SYN-ACK retries run out.
struct TcpRequest {
  TcpLayer* layer = nullptr;
  TcpSocket* listener = nullptr;
  TcpFourTuple t;    // local = the SYN's destination
  wire::SeqNum irs;  // the client's ISN
  wire::SeqNum iss;  // ours
  uint16_t peer_mss = 536;
  uint16_t adv_mss = 536;  // the MSS we advertised
  std::optional<uint8_t> peer_wscale;
  uint8_t rcv_wscale = 0;
  bool sack_ok = false;
  bool ts_ok = false;
  uint32_t ts_recent = 0;
  uint32_t ts_offset = 0;
  uint16_t peer_window = 0;  // the SYN's raw window (never scaled)
  uint8_t retrans = 0;
  Instant first_sent;
  TimerNode timer;
  void on_timer(Instant now);
};

// Linux's MAX_TCP_HEADER: room for every header below TCP plus TCP with options.
inline constexpr size_t kTcpHeadroom = 160;
// Smallest MSS we will use (Linux tcp_min_snd_mss).
inline constexpr uint32_t kTcpMinMss = 48;
// IPv4 (20) + TCP (20) header bytes without options.
inline constexpr uint32_t kTcpIpHeaders = 40;
// The option bytes of a data segment with timestamps (NOP NOP TS).
inline constexpr uint32_t kTcpTsOptLen = 12;
// Linux tcp_invalid_ratelimit: one ACK per this interval answers out-of-window segments.
inline constexpr Duration kOowAckInterval = Duration::ms(500);
// RFC 7323 §5.5: TS.Recent is invalid after 24 days idle.
inline constexpr Duration kPawsIdle = Duration::s(24 * 24 * 3600);

inline TcpSocket::SkbCb& skb_cb(PacketBuffer& p) { return p.cb<TcpSocket::SkbCb>(); }

// The window scale we offer for a receive buffer that may grow to `max_space` (Linux
// tcp_select_initial_window): the smallest shift that lets the 16-bit field describe it.
inline uint8_t tcp_window_scale_for(size_t max_space) {
  uint8_t s = 0;
  while (s < wire::kTcpMaxWindowScale && (max_space >> s) > 65535) ++s;
  return s;
}

}  // namespace ustack::transport
