// app/tcp_service.cc — TcpService (listener, accept loop, connection table), TcpEcho, TcpSink.
#include <fmt/format.h>
#include <string.h>

#include <cerrno>

#include "ustack/app/tcp_apps.h"

namespace ustack::app {

using transport::TcpSocket;

std::string errno_name(int err) {
  if (err == 0) return {};
  const char* n = ::strerrorname_np(err);
  return n != nullptr ? std::string(n) : fmt::format("E{}", err);
}

std::string TcpConnReport::line() const {
  std::string s = fmt::format("conn {} {}:{} bytes {} sha256 {}", conn, peer.to_string(), peer_port,
                              bytes, sha256);
  if (error != 0) s += " error " + errno_name(error);
  return s;
}

// ---- TcpService ------------------------------------------------------------------------------

TcpService::~TcpService() = default;  // derived destructors call stop()

Result<void, int> TcpService::start(uint16_t port, TcpServiceOptions opt, wire::Ipv4Addr addr) {
  if (listener_ != nullptr) return Err{EINVAL};
  opt_ = opt;
  TcpSocket* l = stack_.tcp().open();
  if (auto r = l->bind(addr, port); !r) {
    stack_.tcp().close(last_now_, l);
    return Err{r.error()};
  }
  if (auto r = l->listen(opt.backlog); !r) {
    stack_.tcp().close(last_now_, l);
    return Err{r.error()};
  }
  listener_ = l;
  listener_->set_wakeup([this](Instant now, uint32_t) { on_listener(now); });
  return Ok();
}

void TcpService::stop(Instant now) {
  last_now_ = std::max(last_now_, now);
  for (auto& [id, c] : conns_) {
    c->sock->set_wakeup([](Instant, uint32_t) {});
    stack_.tcp().close(last_now_, c->sock);
  }
  conns_.clear();
  if (listener_ != nullptr) {
    listener_->set_wakeup([](Instant, uint32_t) {});
    stack_.tcp().close(last_now_, listener_);
    listener_ = nullptr;
  }
}

uint16_t TcpService::port() const { return listener_ != nullptr ? listener_->local_port() : 0; }

// The listener is readable: take every established connection (accept until EAGAIN), unless
// accepting is paused.
void TcpService::on_listener(Instant now) {
  last_now_ = std::max(last_now_, now);
  if (opt_.pause_accept) return;
  for (;;) {
    auto r = listener_->accept();
    if (!r) return;  // EAGAIN: the queue is empty
    auto c = std::make_unique<Conn>();
    c->sock = *r;
    c->id = next_id_++;
    c->accepted_at = now;
    Conn* cp = c.get();
    conns_.emplace(cp->id, std::move(c));
    ++stats_.accepted;
    on_open(*cp);
    cp->sock->set_wakeup([this, cp](Instant t, uint32_t) {
      last_now_ = std::max(last_now_, t);
      pump(t, *cp);
    });
    // Data (even the FIN) may have arrived before accept(): no wakeup will announce it again.
    pump(now, *cp);
  }
}

void TcpService::finish(Instant now, Conn& c, int error) {
  if (error == 0) {
    ++stats_.completed;
  } else {
    ++stats_.errors;
    stats_.last_error = error;
  }
  on_finish(now, c, error);
  // Replacing the callback may destroy the closure that is running us (we are often inside
  // it); nothing below touches its captures.
  TcpSocket* s = c.sock;
  s->set_wakeup([](Instant, uint32_t) {});
  stack_.tcp().close(now, s);
  conns_.erase(c.id);  // c is gone
}

std::string TcpService::format_stats() const {
  return fmt::format(
      "{} :{} accepted {} completed {} errors {} open {} bytes {}{}\n", name_, port(),
      stats_.accepted, stats_.completed, stats_.errors, conns_.size(), stats_.bytes,
      stats_.last_error != 0 ? " last_error " + errno_name(stats_.last_error) : std::string());
}

// ---- TcpEcho ---------------------------------------------------------------------------------

TcpEcho::~TcpEcho() { stop(Instant::zero()); }

void TcpEcho::on_open(Conn& c) { c.buf = std::make_unique<uint8_t[]>(kBufSize); }

void TcpEcho::pump(Instant now, Conn& c) {
  TcpSocket* s = c.sock;
  for (;;) {
    // 1. Send back what is pending; if send() takes only part, wait for POLLOUT (the wakeup
    //    after the peer's ACK frees space) without reading more.
    if (c.off < c.len) {
      auto r = s->send(now, std::span<const uint8_t>(c.buf.get() + c.off, c.len - c.off));
      if (!r) {
        if (r.error() == EAGAIN) return;
        return finish(now, c, r.error());
      }
      c.off += *r;
      c.bytes += *r;
      stats_.bytes += *r;
      if (c.off < c.len) return;
      c.off = c.len = 0;
    }
    if (c.eof) break;
    // 2. Read the next chunk.
    auto r = s->recv(now, std::span<uint8_t>(c.buf.get(), kBufSize));
    if (!r) {
      if (r.error() == EAGAIN) return;
      return finish(now, c, r.error());
    }
    if (*r == 0) {
      c.eof = true;
    } else {
      c.len = *r;
    }
  }
  // 3. EOF and everything handed to send(): our FIN follows the data.
  if (auto r = s->shutdown(now, transport::kShutWr); !r) return finish(now, c, r.error());
  finish(now, c, 0);
}

// ---- TcpSink ---------------------------------------------------------------------------------

TcpSink::TcpSink(stack::Stack& stack, ReportFn on_report)
    : TcpService(stack, "tcp-sink"), on_report_(std::move(on_report)), scratch_(kBufSize) {}

TcpSink::~TcpSink() { stop(Instant::zero()); }

void TcpSink::on_open(Conn& c) {
  if (!count_only_) c.sha = std::make_unique<Sha256>();
}

void TcpSink::pump(Instant now, Conn& c) {
  for (;;) {
    auto r = c.sock->recv(now, std::span<uint8_t>(scratch_));
    if (!r) {
      if (r.error() == EAGAIN) return;
      return finish(now, c, r.error());
    }
    if (*r == 0) return finish(now, c, 0);  // the peer's FIN: close (ours follows)
    if (c.sha) c.sha->update(std::span<const uint8_t>(scratch_.data(), *r));
    c.bytes += *r;
    stats_.bytes += *r;
  }
}

void TcpSink::on_finish(Instant now, Conn& c, int error) {
  if (!on_report_) return;
  TcpConnReport rep;
  rep.conn = c.id;
  rep.peer = c.sock->peer_addr();
  rep.peer_port = c.sock->peer_port();
  rep.bytes = c.bytes;
  rep.sha256 = c.sha ? c.sha->finish_hex() : "none";
  rep.elapsed = now - c.accepted_at;
  rep.error = error;
  on_report_(rep);
}

}  // namespace ustack::app
