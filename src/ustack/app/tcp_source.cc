// app/tcp_source.cc — TcpSource: connect, send the pattern, half-close, wait for the peer's FIN.
#include <cerrno>

#include "ustack/app/tcp_apps.h"
#include "ustack/app/tcp_pattern.h"

namespace ustack::app {

using transport::TcpSocket;

TcpSource::TcpSource(stack::Stack& stack, DoneFn on_done)
    : stack_(stack), on_done_(std::move(on_done)), buf_(kBufSize) {}

TcpSource::~TcpSource() { stop(last_now_); }

Result<void, int> TcpSource::start(Instant now, wire::Ipv4Addr addr, uint16_t port,
                                   uint64_t bytes) {
  if (sock_ != nullptr || done_) return Err{EINVAL};
  last_now_ = now;
  TcpSocket* s = stack_.tcp().open();
  if (auto r = s->connect(now, addr, port); !r) {
    stack_.tcp().close(now, s);
    return Err{r.error()};
  }
  sock_ = s;
  total_ = bytes;
  started_ = now;
  report_.conn = 1;
  report_.peer = addr;
  report_.peer_port = port;
  sock_->set_wakeup([this](Instant t, uint32_t) {
    last_now_ = std::max(last_now_, t);
    pump(t);
  });
  return Ok();
}

void TcpSource::stop(Instant now) {
  if (sock_ == nullptr) return;
  sock_->set_wakeup([](Instant, uint32_t) {});
  stack_.tcp().abort(std::max(now, last_now_), sock_);
  sock_ = nullptr;
}

void TcpSource::pump(Instant now) {
  if (sock_ == nullptr) return;
  // A pending error (refused, reset, timed out) ends the transfer whatever else is possible.
  if (sock_->poll_mask() & transport::kPollErr) {
    if (const int err = sock_->take_error(); err != 0) return end(now, err);
  }
  // 1. Send: fill only as much of the pattern as the send buffer takes.
  while (sent_ < total_) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf_.size(), total_ - sent_));
    n = std::min(n, sock_->tx_space());
    if (n == 0) break;
    if (!count_only_) pattern_fill(sent_, std::span<uint8_t>(buf_.data(), n));
    auto r = sock_->send(now, std::span<const uint8_t>(buf_.data(), n));
    if (!r) {
      if (r.error() == EAGAIN) break;
      return end(now, r.error());
    }
    if (!count_only_) sha_.update(std::span<const uint8_t>(buf_.data(), *r));
    sent_ += *r;
    if (*r < n) break;
  }
  // 2. Everything queued: half-close, our FIN goes after the data. Not in SYN-SENT: there
  //    shutdown() abandons the connect (inet_shutdown); the wakeup for ESTABLISHED comes back.
  if (sent_ == total_ && !shut_ && sock_->state() != transport::TcpState::kSynSent) {
    if (auto r = sock_->shutdown(now, transport::kShutWr); !r) return end(now, r.error());
    shut_ = true;
  }
  // 3. Read and discard whatever the peer sends, until its FIN.
  for (;;) {
    auto r = sock_->recv(now, std::span<uint8_t>(buf_));
    if (!r) {
      if (r.error() == EAGAIN || r.error() == ENOTCONN) return;  // nothing yet / SYN-SENT
      return end(now, r.error());
    }
    if (*r == 0) break;
    report_.received += *r;
  }
  // The peer's FIN. If ours is not out yet the peer merely half-closed: keep sending.
  if (shut_) end(now, 0);
}

void TcpSource::end(Instant now, int error) {
  done_ = true;
  report_.bytes = sent_;
  report_.sha256 = count_only_ ? "none" : sha_.finish_hex();
  report_.elapsed = now - started_;
  report_.error = error;
  TcpSocket* s = sock_;
  sock_ = nullptr;
  s->set_wakeup([](Instant, uint32_t) {});  // may destroy the running closure: no captures below
  stack_.tcp().close(now, s);
  if (on_done_) on_done_(report_);
}

}  // namespace ustack::app
