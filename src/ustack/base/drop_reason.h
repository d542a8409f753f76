// base/drop_reason.h — why a packet died, as a type (cf. Linux SKB_DROP_REASON_*).
//
// Every drop in ustack names one of these reasons, bumps a per-stack counter and emits a trace
// event, so "where did my packet go" always has an answer. Add reasons at the end of a group;
// names are what `ustack` prints and what tests assert on.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace ustack {

#define USTACK_DROP_REASONS(X)                                     \
  X(kNone, "not dropped")                                          \
  X(kNotSpecified, "unspecified")                                  \
  /* devices and rings */                                          \
  X(kDevDown, "device is down")                                    \
  X(kRxRingFull, "RX ring full: no descriptor posted (rx_missed)") \
  X(kTxRingFull, "TX ring full")                                   \
  X(kQdiscDrop, "transmit queue (qdisc) full")                     \
  X(kNoBuffer, "buffer pool exhausted")                            \
  X(kFrameTooLong, "frame longer than device MTU + link header")   \
  X(kFrameTooShort, "frame shorter than a link header")            \
  X(kFaultInjected, "dropped by the fault injector")               \
  X(kDevIoError, "device read/write failed")                       \
  X(kNoCarrier, "no link attached (no carrier)")                   \
  X(kBadOffload, "bad checksum/GSO offload metadata")              \
  /* link */                                                       \
  X(kOtherHost, "destination MAC is not ours (PACKET_OTHERHOST)")  \
  X(kUnknownEtherType, "no handler for EtherType")                 \
  X(kNeighFailed, "neighbour resolution failed")                   \
  X(kNeighQueueFull, "neighbour queue full")                       \
  X(kArpIgnored, "ARP not for us / ignored")                       \
  X(kDuplicateAddress, "another host uses our address")            \
  /* wire validation */                                            \
  X(kTruncated, "packet truncated")                                \
  X(kBadLength, "impossible length field")                         \
  X(kBadHeader, "malformed header")                                \
  X(kBadChecksum, "bad checksum")                                  \
  X(kBadVersion, "unsupported version")                            \
  X(kBadOption, "malformed option")                                \
  /* network and transport (used from issue 3 on) */               \
  X(kNoRoute, "no route to destination")                           \
  X(kTtlExpired, "TTL expired in transit")                         \
  X(kNotForwarding, "not ours and ip_forward is off")              \
  X(kUnknownProtocol, "no handler for IP protocol")                \
  X(kFragNeeded, "needs fragmentation but DF set")                 \
  X(kReasmTimeout, "fragment reassembly timed out")                \
  X(kReasmOverlap, "overlapping fragments")                        \
  X(kReasmMemory, "reassembly memory limit")                       \
  X(kFilter, "dropped by a netfilter rule")                        \
  X(kNoSocket, "no socket for destination port")                   \
  X(kSocketRcvBuff, "socket receive buffer full")                  \
  X(kTcpOutOfWindow, "TCP segment outside the receive window")     \
  X(kMartianSource, "martian source address")                      \
  X(kSourceRoute, "source-routed packet (accept_source_route=0)")  \
  X(kIcmpIgnored, "ICMP message ignored by policy")                \
  X(kIcmpRateLimited, "ICMP error rate-limited")                   \
  X(kReasmDuplicate, "duplicate fragment")                         \
  /* TCP (issue 4) */                                              \
  X(kTcpPaws, "TCP timestamp older than TS.Recent (PAWS)")         \
  X(kTcpAckUnsent, "TCP ACK for data not yet sent")                \
  X(kTcpAckTooOld, "TCP ACK older than the send window allows")    \
  X(kTcpRstInvalid, "TCP RST not at RCV.NXT (challenge ACK sent)") \
  X(kTcpSynInvalid, "TCP SYN in a synchronized state")             \
  X(kTcpFlags, "TCP segment with invalid flags for the state")     \
  X(kTcpNoAck, "TCP segment without ACK in a synchronized state")  \
  X(kTcpListenOverflow, "listen queue full")                       \
  X(kTcpCookieInvalid, "invalid or expired SYN cookie")            \
  X(kTcpOldData, "TCP segment with only already-received data")    \
  X(kTcpOfoDrop, "TCP out-of-order queue memory limit")            \
  X(kTcpDataAfterClose, "TCP data for a closed receive side")      \
  X(kTcpClosed, "TCP segment for a connection that is closing")    \
  X(kTcpBadAck, "TCP handshake ACK does not acknowledge our SYN")

enum class DropReason : uint8_t {
#define USTACK_X(name, text) name,
  USTACK_DROP_REASONS(USTACK_X)
#undef USTACK_X
      kCount
};

constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kCount);

// Stable identifier ("RxRingFull") and human text ("RX ring full: ...").
std::string_view drop_reason_name(DropReason r);
std::string_view drop_reason_text(DropReason r);

// Per-stack drop counters, indexed by reason (cf. the kfree_skb tracepoint's reason histogram).
class DropCounters {
 public:
  void count(DropReason r) { ++n_[static_cast<size_t>(r)]; }
  uint64_t get(DropReason r) const { return n_[static_cast<size_t>(r)]; }
  uint64_t total() const;
  void clear() { n_ = {}; }

 private:
  std::array<uint64_t, kDropReasonCount> n_{};
};

}  // namespace ustack
