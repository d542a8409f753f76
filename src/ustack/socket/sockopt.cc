// socket/sockopt.cc — setsockopt / getsockopt / fcntl / ioctl: Linux's option names and value
// layouts (int flags, struct linger, struct timeval, struct tcp_info), Linux's errors.
#include <sys/ioctl.h>
#include <sys/time.h>

#include <algorithm>
#include <cstring>

#include "ustack/socket/socket_internal.h"

namespace ustack::socket {

using transport::TcpState;

namespace {

// Linux's TCP_* state numbers (include/net/tcp_states.h), for tcp_info.tcpi_state.
uint8_t linux_state(TcpState s) {
  switch (s) {
    case TcpState::kEstablished:
      return 1;
    case TcpState::kSynSent:
      return 2;
    case TcpState::kSynReceived:
      return 3;
    case TcpState::kFinWait1:
      return 4;
    case TcpState::kFinWait2:
      return 5;
    case TcpState::kTimeWait:
      return 6;
    case TcpState::kClosed:
      return 7;
    case TcpState::kCloseWait:
      return 8;
    case TcpState::kLastAck:
      return 9;
    case TcpState::kListen:
      return 10;
    case TcpState::kClosing:
      return 11;
  }
  return 7;
}

int get_int(const void* val, socklen_t len, int* out) {
  if (val == nullptr || len < sizeof(int)) return -EINVAL;
  std::memcpy(out, val, sizeof(int));
  return 0;
}

int put_bytes(void* val, socklen_t* len, const void* src, socklen_t n) {
  if (val == nullptr || len == nullptr) return -EFAULT;
  const socklen_t k = std::min(*len, n);
  std::memcpy(val, src, k);
  *len = k;
  return 0;
}

// sk_getsockopt: an int option copies min(len, sizeof(int)) bytes (a short buffer gets what
// fits, as Linux does).
int put_int(void* val, socklen_t* len, int v) { return put_bytes(val, len, &v, sizeof(v)); }

int get_timeval(const void* val, socklen_t len, Duration* out) {
  if (val == nullptr || len < sizeof(timeval)) return -EINVAL;
  timeval tv;
  std::memcpy(&tv, val, sizeof(tv));
  if (tv.tv_usec < 0 || tv.tv_usec >= 1000000) return -EDOM;
  if (tv.tv_sec < 0) {
    *out = Duration::zero();  // Linux: a negative timeout means "don't time out"... as 0
    return 0;
  }
  *out = Duration::s(tv.tv_sec) + Duration::us(tv.tv_usec);
  return 0;
}

int put_timeval(void* val, socklen_t* len, Duration d) {
  timeval tv{};
  tv.tv_sec = d.nanos() / 1'000'000'000;
  tv.tv_usec = (d.nanos() % 1'000'000'000) / 1'000;
  return put_bytes(val, len, &tv, sizeof(tv));
}

void fill_tcp_info(const transport::TcpSocket& t, tcp_info* out) {
  const transport::TcpInfo in = t.info();
  *out = tcp_info{};
  out->tcpi_state = linux_state(in.state);
  out->tcpi_ca_state = static_cast<uint8_t>(in.ca_state);
  out->tcpi_retransmits = in.retransmits;
  out->tcpi_backoff = in.backoff;
  out->tcpi_options = (in.ts_ok ? TCPI_OPT_TIMESTAMPS : 0) | (in.sack_ok ? TCPI_OPT_SACK : 0) |
                      (in.wscale_ok ? TCPI_OPT_WSCALE : 0);
  out->tcpi_snd_wscale = in.snd_wscale & 0xf;
  out->tcpi_rcv_wscale = in.rcv_wscale & 0xf;
  out->tcpi_rto = in.rto_us;
  out->tcpi_rtt = in.rtt_us;
  out->tcpi_rttvar = in.rttvar_us;
  out->tcpi_snd_mss = in.snd_mss;
  out->tcpi_rcv_mss = in.rcv_mss;
  out->tcpi_unacked = in.unacked;
  // Linux reports the windows in segments.
  const uint32_t mss = std::max<uint32_t>(in.snd_mss, 1);
  out->tcpi_snd_cwnd = in.snd_cwnd / mss;
  out->tcpi_snd_ssthresh = std::min<uint32_t>(in.snd_ssthresh / mss, 0x7fffffff);
  out->tcpi_total_retrans = static_cast<uint32_t>(in.total_retrans);
  out->tcpi_rcv_space = in.rcv_wnd;
  out->tcpi_advmss = in.rcv_mss;
}

}  // namespace

int SocketLayer::setsockopt(Fd fd, int level, int name, const void* val, socklen_t len) {
  SocketCall call(*env_);
  Socket* s = lookup(fd);
  if (s == nullptr) return -EBADF;
  if (s->kind == SockKind::kEpoll) return -ENOTSOCK;
  transport::TcpSocket* t = s->tcp;
  transport::UdpSocket* u = s->udp;
  int v = 0;
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_RCVTIMEO:
      case SO_SNDTIMEO: {
        Duration d;
        if (int e = get_timeval(val, len, &d); e != 0) return e;
        if (!s->timeo) s->timeo = std::make_unique<Socket::Timeouts>();
        (name == SO_RCVTIMEO ? s->timeo->rcv : s->timeo->snd) = d;
        return 0;
      }
      case SO_LINGER: {
        if (val == nullptr || len < sizeof(linger)) return -EINVAL;
        linger l;
        std::memcpy(&l, val, sizeof(l));
        if (t == nullptr) return 0;  // UDP: accepted and meaningless, as Linux
        t->set_linger(l.l_onoff != 0 ? std::optional<Duration>(Duration::s(std::max(l.l_linger, 0)))
                                     : std::nullopt);
        return 0;
      }
      default:
        break;
    }
    if (int e = get_int(val, len, &v); e != 0) return e;
    switch (name) {
      case SO_RCVBUF:
        // Linux doubles the value (half is bookkeeping); ustack's buffers count payload, so
        // the value is used as given and reported as given.
        if (t != nullptr) t->set_rcvbuf(static_cast<size_t>(std::max(v, 0)));
        if (u != nullptr) u->set_rcvbuf(static_cast<size_t>(std::max(v, 2048)));
        return 0;
      case SO_SNDBUF:
        if (t != nullptr) t->set_sndbuf(static_cast<size_t>(std::max(v, 0)));
        return 0;
      case SO_REUSEADDR:
        if (t != nullptr) t->set_reuseaddr(v != 0);
        return 0;
      case SO_REUSEPORT:
        s->reuseport = v != 0;
        if (t != nullptr) t->set_reuseport(v != 0);
        if (u != nullptr) u->set_reuseport(v != 0);
        return 0;
      case SO_KEEPALIVE:
        if (t != nullptr) t->set_keepalive(v != 0);
        return 0;
      case SO_RCVLOWAT:
        s->rcvlowat = std::max(v, 1);  // Linux: 0 means 1
        return 0;
      case SO_BROADCAST:
        if (u != nullptr) u->set_broadcast(v != 0);
        return 0;
      default:
        return -ENOPROTOOPT;
    }
  }
  if (level == IPPROTO_TCP) {
    if (t == nullptr) return -EOPNOTSUPP;
    if (name == TCP_CONGESTION) {
      if (val == nullptr) return -EFAULT;
      const char* p = static_cast<const char*>(val);
      std::string_view algo(p, strnlen(p, len));
      auto r = t->set_congestion(algo);
      return r ? 0 : -r.error();
    }
    if (int e = get_int(val, len, &v); e != 0) return e;
    switch (name) {
      case TCP_NODELAY:
        t->set_nodelay(v != 0);
        return 0;
      case TCP_MAXSEG:
        if (v < 88 || v > 65535) return -EINVAL;  // Linux's TCP_MIN_MSS .. MAX_TCP_WINDOW
        t->set_mss(static_cast<uint16_t>(v));
        return 0;
      case TCP_KEEPIDLE:
        if (v < 1 || v > 32767) return -EINVAL;
        t->set_keepalive_idle(Duration::s(v));
        return 0;
      case TCP_KEEPINTVL:
        if (v < 1 || v > 32767) return -EINVAL;
        t->set_keepalive_intvl(Duration::s(v));
        return 0;
      case TCP_KEEPCNT:
        if (v < 1 || v > 127) return -EINVAL;
        t->set_keepalive_count(v);
        return 0;
      default:
        return -ENOPROTOOPT;
    }
  }
  if (level == IPPROTO_IP) {
    if (get_int(val, len, &v) != 0) return -EINVAL;
    if (name == IP_TTL && u != nullptr) {
      if (v < 1 || v > 255) return -EINVAL;
      u->set_ttl(static_cast<uint8_t>(v));
      return 0;
    }
    if (name == IP_TOS && u != nullptr) {
      u->set_tos(static_cast<uint8_t>(v));
      return 0;
    }
  }
  return -ENOPROTOOPT;
}

int SocketLayer::getsockopt(Fd fd, int level, int name, void* val, socklen_t* len) {
  SocketCall call(*env_);
  Socket* s = lookup(fd);
  if (s == nullptr) return -EBADF;
  if (s->kind == SockKind::kEpoll) return -ENOTSOCK;
  if (len == nullptr) return -EFAULT;
  if (static_cast<int>(*len) < 0) return -EINVAL;  // Linux reads optlen as an int
  transport::TcpSocket* t = s->tcp;
  transport::UdpSocket* u = s->udp;
  if (level == SOL_SOCKET) {
    switch (name) {
      case SO_TYPE:
        return put_int(val, len, t != nullptr ? SOCK_STREAM : SOCK_DGRAM);
      case SO_PROTOCOL:
        return put_int(val, len, t != nullptr ? IPPROTO_TCP : IPPROTO_UDP);
      case SO_DOMAIN:
        return put_int(val, len, AF_INET);
      case SO_ERROR:
        return put_int(val, len, t != nullptr ? t->take_error() : u->take_error());
      case SO_RCVBUF:
        return put_int(val, len, static_cast<int>(t != nullptr ? t->rcvbuf() : u->rcvbuf()));
      case SO_SNDBUF:
        return put_int(
            val, len,
            static_cast<int>(t != nullptr ? t->sndbuf() : transport::UdpSocket::kDefaultRcvbuf));
      case SO_REUSEADDR:
        return put_int(val, len, t != nullptr && t->reuseaddr() ? 1 : 0);
      case SO_REUSEPORT:
        return put_int(val, len, s->reuseport ? 1 : 0);
      case SO_KEEPALIVE:
        return put_int(val, len, t != nullptr && t->keepalive() ? 1 : 0);
      case SO_RCVLOWAT:
        return put_int(val, len, s->rcvlowat);
      case SO_ACCEPTCONN:
        return put_int(val, len, t != nullptr && t->state() == TcpState::kListen ? 1 : 0);
      case SO_RCVTIMEO:
        return put_timeval(val, len, s->rcvtimeo());
      case SO_SNDTIMEO:
        return put_timeval(val, len, s->sndtimeo());
      case SO_LINGER: {
        linger l{};
        if (t != nullptr && t->linger()) {
          l.l_onoff = 1;
          l.l_linger = static_cast<int>(t->linger()->nanos() / 1'000'000'000);
        }
        return put_bytes(val, len, &l, sizeof(l));
      }
      default:
        return -ENOPROTOOPT;
    }
  }
  if (level == IPPROTO_TCP) {
    if (t == nullptr) return -EOPNOTSUPP;
    switch (name) {
      case TCP_NODELAY:
        return put_int(val, len, t->nodelay() ? 1 : 0);
      case TCP_MAXSEG:
        return put_int(val, len, static_cast<int>(t->info().snd_mss));
      case TCP_KEEPIDLE:
        return put_int(val, len, static_cast<int>(t->keepalive_idle().nanos() / 1'000'000'000));
      case TCP_KEEPINTVL:
        return put_int(val, len, static_cast<int>(t->keepalive_intvl().nanos() / 1'000'000'000));
      case TCP_KEEPCNT:
        return put_int(val, len, t->keepalive_count());
      case TCP_INFO: {
        tcp_info ti;
        fill_tcp_info(*t, &ti);
        return put_bytes(val, len, &ti, sizeof(ti));
      }
      case TCP_CONGESTION: {
        char name_buf[16] = {};
        std::string_view c = t->congestion();
        std::memcpy(name_buf, c.data(), std::min(c.size(), sizeof(name_buf) - 1));
        return put_bytes(val, len, name_buf, sizeof(name_buf));
      }
      default:
        return -ENOPROTOOPT;
    }
  }
  return -EOPNOTSUPP;  // any other level ends in ip_getsockopt: level != SOL_IP
}

int SocketLayer::fcntl(Fd fd, int cmd, intptr_t arg) {
  SocketCall call(*env_);
  Socket* s = lookup(fd);
  if (s == nullptr) return -EBADF;
  switch (cmd) {
    case F_GETFL:
      return s->file_flags;
    case F_SETFL: {
      // Only O_NONBLOCK and O_ASYNC change (setfl); the access mode stays.
      const int mask = O_NONBLOCK | O_ASYNC;
      s->file_flags = (s->file_flags & ~mask) | (static_cast<int>(arg) & mask);
      return 0;
    }
    case F_GETFD:
      return s->fd_flags;
    case F_SETFD:
      s->fd_flags = static_cast<int>(arg) & FD_CLOEXEC;
      return 0;
    case F_GETOWN:
      return s->owner_type == F_OWNER_PGRP ? -s->owner : s->owner;
    case F_SETOWN:
      // f_setown: a negative argument names a process group.
      s->owner_type = arg < 0 ? F_OWNER_PGRP : F_OWNER_PID;
      s->owner = static_cast<pid_t>(arg < 0 ? -arg : arg);
      return 0;
    case F_GETOWN_EX: {
      auto* o = reinterpret_cast<f_owner_ex*>(arg);
      if (o == nullptr) return -EFAULT;
      o->type = static_cast<__pid_type>(s->owner_type == 0 ? static_cast<int>(F_OWNER_PID)
                                                           : static_cast<int>(s->owner_type));
      o->pid = s->owner;
      return 0;
    }
    case F_SETOWN_EX: {
      const auto* o = reinterpret_cast<const f_owner_ex*>(arg);
      if (o == nullptr) return -EFAULT;
      if (o->type != F_OWNER_TID && o->type != F_OWNER_PID && o->type != F_OWNER_PGRP) {
        return -EINVAL;
      }
      s->owner_type = o->type;
      s->owner = o->pid;
      return 0;
    }
    case F_GETSIG:
      return s->sig;
    case F_SETSIG:
      if (arg < 0 || arg > SIGRTMAX) return -EINVAL;
      s->sig = static_cast<int>(arg);
      return 0;
    default:
      return -EINVAL;
  }
}

int SocketLayer::ioctl(Fd fd, unsigned long req, void* arg) {
  SocketCall call(*env_);
  Socket* s = lookup(fd);
  if (s == nullptr) return -EBADF;
  auto* p = static_cast<int*>(arg);
  if (p == nullptr) return -EFAULT;
  switch (req) {
    case FIONREAD:
      if (s->tcp != nullptr) {
        if (s->tcp->state() == TcpState::kListen) return -EINVAL;
        *p = static_cast<int>(s->tcp->rx_available());
      } else if (s->udp != nullptr) {
        // The size of the next datagram (Linux's SIOCINQ on UDP).
        uint8_t none;
        auto n = s->udp->recv_into({&none, 0}, nullptr, nullptr, /*peek=*/true);
        *p = n ? static_cast<int>(*n) : 0;
      } else {
        return -ENOTTY;
      }
      return 0;
    case FIONBIO:
      s->file_flags = *p != 0 ? (s->file_flags | O_NONBLOCK) : (s->file_flags & ~O_NONBLOCK);
      return 0;
    case FIOASYNC:
      s->file_flags = *p != 0 ? (s->file_flags | O_ASYNC) : (s->file_flags & ~O_ASYNC);
      return 0;
    case SIOCATMARK:
      *p = 0;  // no urgent data (not implemented)
      return 0;
    default:
      return -ENOTTY;
  }
}

}  // namespace ustack::socket
