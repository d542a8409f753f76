// socket/fasync.cc — signal-driven I/O (kill_fasync / send_sigio) and SIGPIPE.
//
// A socket with O_ASYNC and an owner (F_SETOWN / F_SETOWN_EX) gets a real POSIX signal each
// time its wakeup callback runs with a readiness the owner can act on: data or EOF (POLL_IN),
// buffer space (POLL_OUT), an error (POLL_ERR), a hang-up (POLL_HUP), as Linux's
// sk_wake_async. Without F_SETSIG (0) the signal is SIGIO with no payload (kill/tgkill); with
// F_SETSIG the siginfo carries si_fd (the handle's slot bits) and si_band (the poll mask), sent
// with rt_tgsigqueueinfo / rt_sigqueueinfo so a real-time signal queues one entry per event.
// si_code is SI_QUEUE: Linux's own POLL_IN/POLL_OUT codes are reserved for the kernel (a
// process may use them only to signal itself); POLL_IN etc. follow from si_band.
//
// Under sim::World the owner thread waits in SocketLayer::sigwaitinfo, which yields the
// virtual clock; each signal also wakes that wait queue.
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "ustack/socket/socket_internal.h"

namespace ustack::socket {

namespace {

int band_code(uint32_t mask) {
  if ((mask & EPOLLERR) != 0) return POLL_ERR;
  if ((mask & EPOLLHUP) != 0) return POLL_HUP;
  if ((mask & EPOLLIN) != 0) return POLL_IN;
  return POLL_OUT;
}

}  // namespace

void SocketLayer::send_sigio(Socket* s, uint32_t mask) {
  if (s->owner == 0) return;  // no owner: nobody to tell (Linux: no fown pid)
  if ((mask & (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) == 0) return;
  const int sig = s->sig != 0 ? s->sig : SIGIO;
  long rc;
  if (s->sig == 0) {
    // Plain SIGIO: no siginfo payload (SI_KERNEL-like), as Linux sends without F_SETSIG.
    rc = s->owner_type == F_OWNER_TID    ? ::syscall(SYS_tgkill, ::getpid(), s->owner, sig)
         : s->owner_type == F_OWNER_PGRP ? ::kill(-s->owner, sig)
                                         : ::kill(s->owner, sig);
  } else {
    siginfo_t info;
    std::memset(&info, 0, sizeof(info));
    info.si_signo = sig;
    info.si_code = band_code(mask);  // POLL_IN etc.
    info.si_band = static_cast<long>(mask);
    info.si_fd = static_cast<int>(static_cast<uint64_t>(s->fd) & 0x7fffffffu);
    // A positive si_code (POLL_IN..) is what the kernel itself sends; rt_(tg)sigqueueinfo
    // accept it only when a thread signals itself, and the stack thread signals others. So the
    // code goes to an owner that is the calling thread, SI_QUEUE to anyone else:
    // si_band and si_fd stay filled in either way (sival would overlap si_fd, so it is unused).
    auto queue = [&] {
      if (s->owner_type == F_OWNER_TID) {
        return ::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), s->owner, sig, &info);
      }
      const pid_t pid = s->owner_type == F_OWNER_PGRP ? -s->owner : s->owner;
      return ::syscall(SYS_rt_sigqueueinfo, pid, sig, &info);
    };
    const pid_t self = static_cast<pid_t>(::syscall(SYS_gettid));
    if (s->owner != self) info.si_code = SI_QUEUE;  // one syscall, not a refused one first
    rc = queue();
  }
  if (rc == 0) {
    ++stats_.signals_sent;
  } else {
    ++stats_.signals_failed;
  }
  sig_waiters_.wake_all(*env_);
}

void SocketLayer::raise_sigpipe(int flags) {
  if (!cfg_.sigpipe || (flags & MSG_NOSIGNAL) != 0) return;
  ::raise(SIGPIPE);
}

int SocketLayer::sigwaitinfo(const sigset_t& set, siginfo_t* info,
                             std::optional<Duration> timeout) {
  env_->lock();
  const bool cooperative = env_->can_sleep() && env_->virtual_time();
  env_->unlock();
  if (!cooperative) {
    // The real world: the kernel does the waiting (no stack lock held).
    timespec ts{};
    timespec* tsp = nullptr;
    if (timeout) {
      ts.tv_sec = timeout->nanos() / 1'000'000'000;
      ts.tv_nsec = timeout->nanos() % 1'000'000'000;
      tsp = &ts;
    }
    const int r = ::sigtimedwait(&set, info, tsp);
    return r >= 0 ? r : -errno;
  }
  // A cooperative runner (virtual time): poll for a pending signal, else sleep on the
  // signal wait queue until send_sigio wakes it or the deadline.
  LockedCall call(*env_);
  const Instant deadline = timeout ? env_->now() + *timeout : Instant::never();
  for (;;) {
    timespec zero{};
    const int r = ::sigtimedwait(&set, info, &zero);
    if (r >= 0) return r;
    if (env_->now() >= deadline) return -EAGAIN;
    Waiter w;
    ScopedWait link(sig_waiters_, w);
    ++stats_.sleeps;
    env_->kick();  // what this call queued must not wait for our wakeup
    env_->sleep(w, deadline);
  }
}

}  // namespace ustack::socket
