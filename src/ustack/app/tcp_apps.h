// app/tcp_apps.h — TCP test services on one Stack: TcpEcho (RFC 862 over TCP), TcpSink
// (discard, RFC 863, with a per-connection SHA-256) and TcpSource (sends a deterministic stream).
//
// They are what `ustack host --tcp-echo / --tcp-sink / --tcp-source` run, and what the interop
// tests point Linux at. Each is driven only by TcpSocket wakeups (set_wakeup) and the
// non-blocking calls of transport/tcp.h, on the stack's thread, like an epoll loop in
// edge-triggered mode: every wakeup re-reads the socket's state and does all the work that is
// possible now (recv until EAGAIN, send until EAGAIN), so a missed or coalesced wakeup loses
// nothing. Memory per connection is bounded: one fixed buffer (echo) or none (sink, source).
//
// Teardown: before a socket is closed its wakeup is replaced by a no-op, so an orphan (FIN-WAIT,
// TIME-WAIT) never calls back into an app that forgot it (or was destroyed). stop(now) closes
// every socket; the destructors call it with the last `now` they saw.
//
// Not thread-safe: like the Stack, they belong to the stack's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ustack/app/sha256.h"
#include "ustack/base/result.h"
#include "ustack/stack/stack.h"
#include "ustack/transport/tcp.h"

namespace ustack::app {

// "ECONNREFUSED" for ECONNREFUSED (glibc's strerrorname_np), "E<n>" if unknown, "" for 0.
std::string errno_name(int err);

// What a listener does with its listen(2) backlog and accept(2).
struct TcpServiceOptions {
  int backlog = 128;          // listen(2) backlog: bounds the SYN and accept queues (tcp.h)
  bool pause_accept = false;  // never call accept(): connections wait in the accept queue
                              // until it overflows (a stuck server, for overflow tests)
};

// One finished connection of TcpSink or TcpSource.
struct TcpConnReport {
  uint64_t conn = 0;  // 1, 2, ... in accept order (TcpSource: 1)
  wire::Ipv4Addr peer;
  uint16_t peer_port = 0;
  uint64_t bytes = 0;     // payload bytes received (sink) or handed to send() (source)
  std::string sha256;     // of those bytes, 64 hex digits
  Duration elapsed;       // accept (sink) or connect (source) to the end
  uint64_t received = 0;  // TcpSource: bytes the peer sent back (discarded)
  int error = 0;          // errno that ended the connection; 0 for a clean end
  // "conn <n> <peer ip:port> bytes <B> sha256 <hex>", plus " error <ENAME>" after an error.
  std::string line() const;
};

struct TcpServiceStats {
  uint64_t accepted = 0;   // connections taken from the accept queue
  uint64_t completed = 0;  // ended cleanly (EOF, everything echoed)
  uint64_t errors = 0;     // ended by an error (reset, timeout)
  uint64_t bytes = 0;      // payload bytes echoed (TcpEcho) or received (TcpSink)
  int last_error = 0;
};

// The listener and connection table both services share.
class TcpService {
 public:
  TcpService(const TcpService&) = delete;
  TcpService& operator=(const TcpService&) = delete;
  virtual ~TcpService();

  // socket + bind(addr, port) + listen(backlog); addr unspecified means every local address.
  // Errors are the calls' errno (EADDRINUSE, EINVAL when already started...).
  Result<void, int> start(uint16_t port, TcpServiceOptions opt = {}, wire::Ipv4Addr addr = {});
  // Closes the listener (its queued connections are reset) and every connection (FIN).
  void stop(Instant now);

  uint16_t port() const;
  transport::TcpSocket* listener() const { return listener_; }
  size_t open_connections() const { return conns_.size(); }
  const TcpServiceStats& stats() const { return stats_; }

 protected:
  struct Conn {
    transport::TcpSocket* sock = nullptr;
    uint64_t id = 0;
    Instant accepted_at;
    uint64_t bytes = 0;
    // TcpEcho: bytes read and not yet sent back, buf[off, len).
    std::unique_ptr<uint8_t[]> buf;
    size_t off = 0, len = 0;
    bool eof = false;
    // TcpSink.
    std::unique_ptr<Sha256> sha;
  };

  TcpService(stack::Stack& stack, const char* name) : stack_(stack), name_(name) {}
  virtual void on_open(Conn& c) = 0;
  // Do everything possible on c now. May end c with finish().
  virtual void pump(Instant now, Conn& c) = 0;
  // Ends c: silences its wakeup, closes (FIN) or, after an error, frees it, counts, forgets it.
  // c is gone afterwards.
  void finish(Instant now, Conn& c, int error);
  virtual void on_finish(Instant /*now*/, Conn& /*c*/, int /*error*/) {}
  std::string format_stats() const;

  stack::Stack& stack_;
  const char* name_;
  TcpServiceStats stats_;

 private:
  void on_listener(Instant now);

  transport::TcpSocket* listener_ = nullptr;
  TcpServiceOptions opt_;
  Instant last_now_ = Instant::zero();
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
};

// Echo: every connection gets its bytes back. Flow control: when send() takes less than was
// read, the rest stays in the connection's buffer and nothing more is read until the socket is
// writable again, so a peer that does not read stalls its own sender through our window
// instead of growing our memory. On EOF the buffer is flushed, then shutdown(SHUT_WR) and
// close() (the orphan delivers what is still queued, then the FIN).
class TcpEcho final : public TcpService {
 public:
  static constexpr size_t kBufSize = 64 * 1024;
  explicit TcpEcho(stack::Stack& stack) : TcpService(stack, "tcp-echo") {}
  ~TcpEcho() override;
  // "tcp-echo :7 accepted 3 completed 3 errors 0 open 0 bytes 120"
  std::string format() const { return format_stats(); }

 private:
  void on_open(Conn& c) override;
  void pump(Instant now, Conn& c) override;
};

// Discard: reads and drops everything, hashing it; when the peer's FIN (or an error) ends the
// connection it is closed and reported through the callback (the CLI prints report.line()).
class TcpSink final : public TcpService {
 public:
  using ReportFn = std::function<void(const TcpConnReport&)>;
  static constexpr size_t kBufSize = 64 * 1024;
  TcpSink(stack::Stack& stack, ReportFn on_report);
  ~TcpSink() override;
  // Count only, no SHA-256 (the report's sha256 is "none"): a benchmark's sink, as lwIP's and
  // iperf's are. Set before start().
  void set_count_only(bool on) { count_only_ = on; }
  std::string format() const { return format_stats(); }

 private:
  void on_open(Conn& c) override;
  void pump(Instant now, Conn& c) override;
  void on_finish(Instant now, Conn& c, int error) override;

  ReportFn on_report_;
  std::vector<uint8_t> scratch_;  // one read buffer for every connection
  bool count_only_ = false;
};

// Source: connect, send `bytes` of the pattern (app/tcp_pattern.h), shutdown(SHUT_WR), read
// (and discard) until the peer's FIN, close, report. The report's sha256 is of the bytes sent,
// which equals pattern_sha256(bytes) on success.
class TcpSource {
 public:
  using DoneFn = std::function<void(const TcpConnReport&)>;
  static constexpr size_t kBufSize = 64 * 1024;
  TcpSource(stack::Stack& stack, DoneFn on_done);
  ~TcpSource();
  TcpSource(const TcpSource&) = delete;
  TcpSource& operator=(const TcpSource&) = delete;

  // socket + connect. Errors are connect(2)'s (ENETUNREACH, EADDRNOTAVAIL...), or EINVAL when
  // already started; later errors come through the report.
  Result<void, int> start(Instant now, wire::Ipv4Addr addr, uint16_t port, uint64_t bytes);
  // Send zeros and hash nothing (the report's sha256 is "none"): a benchmark's source, as
  // lwIP's and iperf's are. Set before start().
  void set_count_only(bool on) { count_only_ = on; }
  // Aborts a transfer in progress (RST); no report.
  void stop(Instant now);

  bool done() const { return done_; }
  const TcpConnReport& report() const { return report_; }
  uint64_t sent() const { return sent_; }
  transport::TcpSocket* socket() const { return sock_; }

 private:
  void pump(Instant now);
  void end(Instant now, int error);

  stack::Stack& stack_;
  DoneFn on_done_;
  transport::TcpSocket* sock_ = nullptr;
  uint64_t total_ = 0;
  uint64_t sent_ = 0;  // bytes send() accepted
  bool shut_ = false;
  bool done_ = false;
  Instant started_;
  Instant last_now_ = Instant::zero();
  Sha256 sha_;
  TcpConnReport report_;
  std::vector<uint8_t> buf_;
  bool count_only_ = false;
};

}  // namespace ustack::app
