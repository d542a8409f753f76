// app/udp_echo.cc — the UDP echo service.
#include "ustack/app/udp_echo.h"

#include <fmt/format.h>

#include <cerrno>

namespace ustack::app {

UdpEcho::~UdpEcho() {
  if (sock_ != nullptr) stack_.udp().close(sock_);
}

Result<void, int> UdpEcho::start(uint16_t port, wire::Ipv4Addr addr) {
  if (sock_ != nullptr) return Err{EINVAL};
  transport::UdpSocket* s = stack_.udp().open();
  if (auto r = s->bind(addr, port); !r) {
    stack_.udp().close(s);
    return Err{r.error()};
  }
  sock_ = s;
  sock_->on_readable([this](Instant now) { on_readable(now); });
  return Ok();
}

uint16_t UdpEcho::port() const { return sock_ != nullptr ? sock_->local_port() : 0; }

// Drain the queue: one readiness callback may stand for several datagrams.
void UdpEcho::on_readable(Instant now) {
  while (std::optional<transport::UdpDatagram> d = sock_->recv()) {
    const auto r = sock_->sendto(now, d->payload(), d->from, d->from_port);
    if (r) {
      ++stats_.datagrams;
      stats_.bytes += *r;
    } else {
      ++stats_.send_errors;
      stats_.last_error = r.error();
    }
  }
  // An ICMP error for an earlier echo (the peer's port closed) is reported once; consume it so
  // it is not mistaken for the next datagram's.
  (void)sock_->take_error();
}

std::string UdpEcho::format() const {
  return fmt::format(
      "udp-echo :{} datagrams {} bytes {} send_errors {}{}\n", port(), stats_.datagrams,
      stats_.bytes, stats_.send_errors,
      stats_.last_error != 0 ? fmt::format(" last_errno {}", stats_.last_error) : std::string());
}

}  // namespace ustack::app
