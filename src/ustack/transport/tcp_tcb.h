// transport/tcp_tcb.h — the Transmission Control Block's state, named as RFC 9293 §3.3.1 names
// it (and as Linux's struct tcp_sock fields map onto it), plus TCP's MIB counters.
//
// This is the contract the TCP engine (issue 4) is written against: the state machine, the
// send and receive sequence variables, what the options negotiated, and the counters Linux
// exports in /proc/net/snmp ("Tcp:") and /proc/net/netstat ("TcpExt:"). Sequence numbers are
// wire::SeqNum: arithmetic modulo 2^32 with RFC 9293's comparisons (never plain integers).
#pragma once

#include <cstdint>
#include <string_view>

#include "ustack/base/time.h"
#include "ustack/wire/seq.h"

namespace ustack::transport {

// RFC 9293 §3.3.2: the eleven states (Figure 6).
enum class TcpState : uint8_t {
  kClosed,
  kListen,
  kSynSent,
  kSynReceived,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kClosing,
  kLastAck,
  kTimeWait,
};
// RFC spelling ("SYN-RECEIVED") and `ss` spelling ("SYN-RECV"), for traces and listings.
std::string_view tcp_state_name(TcpState s);
std::string_view tcp_state_ss_name(TcpState s);
// States in which the connection is synchronized (RFC 9293 §3.5.2: ESTABLISHED and later).
constexpr bool tcp_synchronized(TcpState s) {
  return s != TcpState::kClosed && s != TcpState::kListen && s != TcpState::kSynSent &&
         s != TcpState::kSynReceived;
}

// RFC 9293 §3.3.1, "Send Sequence Variables".
struct SendSequence {
  wire::SeqNum una;      // SND.UNA: oldest unacknowledged sequence number (tp->snd_una)
  wire::SeqNum nxt;      // SND.NXT: next sequence number to be sent (tp->snd_nxt)
  uint32_t wnd = 0;      // SND.WND: the peer's window, already scaled (tp->snd_wnd)
  wire::SeqNum up;       // SND.UP: urgent pointer
  wire::SeqNum wl1;      // SND.WL1: segment sequence number used for the last window update
  wire::SeqNum wl2;      // SND.WL2: segment acknowledgment number used for the last window update
  wire::SeqNum iss;      // ISS: initial send sequence number
  uint8_t wscale = 0;    // Snd.Wind.Shift (RFC 7323 §2.2): shift applied to the peer's windows
  uint32_t max_wnd = 0;  // largest window the peer ever offered (sender SWS, RFC 9293 §3.8.6.2.1)
};

// RFC 9293 §3.3.1, "Receive Sequence Variables".
struct RecvSequence {
  wire::SeqNum nxt;        // RCV.NXT: next sequence number expected (tp->rcv_nxt)
  uint32_t wnd = 0;        // RCV.WND: the window we offer, unscaled bytes (tp->rcv_wnd)
  wire::SeqNum up;         // RCV.UP: receive urgent pointer
  wire::SeqNum irs;        // IRS: initial receive sequence number
  uint8_t wscale = 0;      // Rcv.Wind.Shift: shift we apply to the windows we advertise
  wire::SeqNum adv_right;  // RCV.NXT + RCV.WND as last advertised: never shrink it (§3.8.6.2.2)
};

// What the handshake negotiated (RFC 9293 §3.7.1, RFC 7323, RFC 2018).
// Ordered (and the flags bits) so that it packs into 16 bytes: every connection has one.
struct TcpNegotiated {
  Instant ts_recent_age;       // when TS.Recent was set (PAWS's 24-day rule, RFC 7323 §5.5)
  uint32_t ts_recent = 0;      // TS.Recent (RFC 7323 §4.3): the peer's last valid TSval
  uint16_t mss = 536;          // effective send MSS (the peer's MSS option, clamped by our PMTU)
  bool wscale_ok : 1 = false;  // both sides sent Window Scale
  bool sack_ok : 1 = false;    // both sides sent SACK-permitted
  bool ts_ok : 1 = false;      // both sides sent Timestamps
};

// /proc/net/snmp "Tcp:" (RFC 4022 names) and the /proc/net/netstat "TcpExt:" counters the
// issue names. One per stack.
struct TcpMib {
  // Tcp:
  uint64_t active_opens = 0;    // ActiveOpens: CLOSED -> SYN-SENT
  uint64_t passive_opens = 0;   // PassiveOpens: LISTEN -> SYN-RECEIVED
  uint64_t attempt_fails = 0;   // AttemptFails: SYN-SENT/SYN-RECEIVED -> CLOSED, or -> LISTEN
  uint64_t estab_resets = 0;    // EstabResets: ESTABLISHED/CLOSE-WAIT -> CLOSED by RST
  uint64_t curr_estab = 0;      // CurrEstab: a gauge, ESTABLISHED + CLOSE-WAIT now
  uint64_t in_segs = 0;         // InSegs
  uint64_t out_segs = 0;        // OutSegs (excluding retransmissions)
  uint64_t retrans_segs = 0;    // RetransSegs
  uint64_t in_errs = 0;         // InErrs: bad checksums, bad headers
  uint64_t out_rsts = 0;        // OutRsts
  uint64_t in_csum_errors = 0;  // InCsumErrors
  // TcpExt:
  uint64_t listen_overflows = 0;    // ListenOverflows: accept queue full
  uint64_t listen_drops = 0;        // ListenDrops: any SYN dropped by a listener
  uint64_t syncookies_sent = 0;     // SyncookiesSent
  uint64_t syncookies_recv = 0;     // SyncookiesRecv: valid cookies
  uint64_t syncookies_failed = 0;   // SyncookiesFailed
  uint64_t tcp_timeouts = 0;        // TCPTimeouts: RTO expirations
  uint64_t delayed_acks = 0;        // DelayedACKs: delayed-ACK timer fired
  uint64_t paws_estab = 0;          // PAWSEstab: segments rejected by PAWS (RFC 7323 §5)
  uint64_t challenge_acks = 0;      // TCPChallengeACK (RFC 5961)
  uint64_t ack_skipped = 0;         // TCPACKSkipped*: out-of-window ACKs not sent (rate limit)
  uint64_t fast_retrans = 0;        // TCPFastRetrans
  uint64_t ofo_queue = 0;           // TCPOFOQueue: segments put on the out-of-order queue
  uint64_t zero_window_probes = 0;  // TCPWinProbe
  uint64_t keepalive_probes = 0;    // TCPKeepAlive
  uint64_t aborts_on_timeout = 0;   // TCPAbortOnTimeout: ETIMEDOUT after the retry limit
  uint64_t abort_on_data = 0;       // TCPAbortOnData: data for a closed socket -> RST
  uint64_t abort_on_close = 0;      // TCPAbortOnClose: close() with unread data -> RST
  uint64_t time_waits = 0;          // TW: connections that entered TIME-WAIT
  uint64_t tw_recycled = 0;         // TWRecycled: TIME-WAIT reused by a new SYN (RFC 6191)
};

}  // namespace ustack::transport
