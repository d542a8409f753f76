// app/udp_echo.h — UdpEcho: the echo service (RFC 862) over UDP on one Stack.
//
// Binds a UdpSocket and, from the socket's readiness callback (sk_data_ready, on the stack's
// thread), sends every datagram back to the address and port it came from, unchanged. It runs
// on whichever runner drives the Stack: rt::Runtime (`ustack host --udp-echo PORT`) or virtual
// time in tests. Not thread-safe: like the Stack, it belongs to the stack's thread.
#pragma once

#include <cstdint>
#include <string>

#include "ustack/base/result.h"
#include "ustack/stack/stack.h"

namespace ustack::app {

struct UdpEchoStats {
  uint64_t datagrams = 0;    // datagrams echoed (sendto accepted them)
  uint64_t bytes = 0;        // payload bytes echoed
  uint64_t send_errors = 0;  // sendto refused the echo (no route, no buffer, filtered...)
  int last_error = 0;        // errno of the most recent send error (0 if none)
};

class UdpEcho {
 public:
  explicit UdpEcho(stack::Stack& stack) : stack_(stack) {}
  ~UdpEcho();  // closes the socket
  UdpEcho(const UdpEcho&) = delete;
  UdpEcho& operator=(const UdpEcho&) = delete;

  // bind(addr, port) and start echoing; addr unspecified means every local address. Errors
  // are bind(2)'s errno (EADDRINUSE, EADDRNOTAVAIL, EINVAL when already started).
  Result<void, int> start(uint16_t port, wire::Ipv4Addr addr = {});

  uint16_t port() const;
  const UdpEchoStats& stats() const { return stats_; }
  // "udp-echo :7 datagrams 3 bytes 120 send_errors 0"
  std::string format() const;

 private:
  void on_readable(Instant now);

  stack::Stack& stack_;
  transport::UdpSocket* sock_ = nullptr;
  UdpEchoStats stats_;
};

}  // namespace ustack::app
