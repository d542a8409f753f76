// transport/tcp_format.cc — TCP's views in the formats of the Linux tools: `ss -tan` and the
// "Tcp:" (/proc/net/snmp) and "TcpExt:" (/proc/net/netstat) header/value line pairs.
#include <fmt/format.h>

#include <utility>
#include <vector>

#include "ustack/transport/tcp_internal.h"

namespace ustack::transport {

namespace {
std::string pairs(std::string_view prefix,
                  const std::vector<std::pair<std::string_view, uint64_t>>& kv) {
  std::string names(prefix), values(prefix);
  for (const auto& [k, v] : kv) {
    names += fmt::format(" {}", k);
    // Linux prints MaxConn as -1 ("dynamic"): a signed field.
    values += v == UINT64_MAX ? std::string(" -1") : fmt::format(" {}", v);
  }
  return names + "\n" + values + "\n";
}
}  // namespace

std::string TcpLayer::format() const {
  std::string out = fmt::format("{:<11} {:>7} {:>7} {:>21} {:>21}\n", "State", "Recv-Q", "Send-Q",
                                "Local Address:Port", "Peer Address:Port");
  auto addr = [](wire::Ipv4Addr a, uint16_t p) {
    return fmt::format("{}:{}", a.is_unspecified() ? "0.0.0.0" : a.to_string(),
                       p == 0 ? std::string("*") : std::to_string(p));
  };
  for (const TcpSocket* s = head_; s != nullptr; s = s->next_) {
    if (s->state_ == TcpState::kClosed && !s->bound_) continue;
    const bool listen = s->state_ == TcpState::kListen;
    // ss: for listeners Recv-Q is the accept queue and Send-Q the backlog.
    const size_t rq = listen ? s->accept_queue_len() : s->rx_available();
    const size_t sq = listen ? static_cast<size_t>(s->backlog()) : s->write_bytes_;
    out += fmt::format("{:<11} {:>7} {:>7} {:>21} {:>21}\n", tcp_state_ss_name(s->state_), rq, sq,
                       addr(s->t_.laddr, s->t_.lport),
                       listen ? std::string("*:*") : addr(s->t_.raddr, s->t_.rport));
  }
  for (const auto& [k, r] : reqs_) {
    out += fmt::format("{:<11} {:>7} {:>7} {:>21} {:>21}\n", "SYN-RECV", 0, 0,
                       addr(r->t.laddr, r->t.lport), addr(r->t.raddr, r->t.rport));
  }
  return out;
}

std::string TcpLayer::format_snmp() const {
  const TcpMib& m = mib_;
  // RtoAlgorithm 1 = "other" as Linux reports; RtoMin/RtoMax in ms; MaxConn -1 = dynamic.
  return pairs("Tcp:", {{"RtoAlgorithm", 1},
                        {"RtoMin", static_cast<uint64_t>(cfg_.rtt.min_rto.millis())},
                        {"RtoMax", static_cast<uint64_t>(cfg_.rtt.max_rto.millis())},
                        {"MaxConn", static_cast<uint64_t>(-1)},
                        {"ActiveOpens", m.active_opens},
                        {"PassiveOpens", m.passive_opens},
                        {"AttemptFails", m.attempt_fails},
                        {"EstabResets", m.estab_resets},
                        {"CurrEstab", m.curr_estab},
                        {"InSegs", m.in_segs},
                        {"OutSegs", m.out_segs},
                        {"RetransSegs", m.retrans_segs},
                        {"InErrs", m.in_errs},
                        {"OutRsts", m.out_rsts},
                        {"InCsumErrors", m.in_csum_errors}});
}

std::string TcpLayer::format_netstat() const {
  const TcpMib& m = mib_;
  return pairs("TcpExt:", {{"SyncookiesSent", m.syncookies_sent},
                           {"SyncookiesRecv", m.syncookies_recv},
                           {"SyncookiesFailed", m.syncookies_failed},
                           {"TW", m.time_waits},
                           {"TWRecycled", m.tw_recycled},
                           {"PAWSEstab", m.paws_estab},
                           {"DelayedACKs", m.delayed_acks},
                           {"ListenOverflows", m.listen_overflows},
                           {"ListenDrops", m.listen_drops},
                           {"TCPTimeouts", m.tcp_timeouts},
                           {"TCPFastRetrans", m.fast_retrans},
                           {"TCPOFOQueue", m.ofo_queue},
                           {"TCPChallengeACK", m.challenge_acks},
                           {"TCPACKSkipped", m.ack_skipped},
                           {"TCPWinProbe", m.zero_window_probes},
                           {"TCPKeepAlive", m.keepalive_probes},
                           {"TCPAbortOnData", m.abort_on_data},
                           {"TCPAbortOnClose", m.abort_on_close},
                           {"TCPAbortOnTimeout", m.aborts_on_timeout}});
}

}  // namespace ustack::transport
