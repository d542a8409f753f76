// examples/echo_servers.h — one TCP echo server per I/O model (seed 001/003; Stevens' UNP
// ch. 6), each written ONCE as a template over a socket API type `Api`:
//   - socket::SocketLayer (ustack): calls return >= 0 or -errno, handles are Fd (int64_t);
//   - examples::KernelApi (kernel_api.h): the same names and signatures over the Linux kernel.
// So the echo test suite and bench_models compare ustack and Linux on identical server code.
//
// The five models (who waits for which phase: readiness, then the copy):
//   1. BlockingEcho     a thread per connection; recv/send sleep until done. SO_RCVTIMEO /
//                       SO_SNDTIMEO bound every sleep so a thread notices stop() within a tick.
//   2. NonBlockingEcho  one thread, O_NONBLOCK sockets, recv/send return -EAGAIN. Nothing tells
//                       this model when to look again, so it BUSY-POLLS every socket; after a
//                       pass with no progress it yields, and after kSpinPasses idle passes it
//                       sleeps with an exponential back-off bounded by EchoOptions::max_backoff
//                       (1 ms). That bound is the model's worst-case added latency while idle.
//   3. EpollEcho        one thread, epoll_create1/epoll_ctl/epoll_wait, edge-triggered: every
//                       event drives its socket until -EAGAIN (one edge per change).
//   4. SignalEcho       one thread, O_ASYNC + F_SETOWN_EX(F_OWNER_TID) + F_SETSIG(SIGRTMIN+n):
//                       the signal is blocked in the thread and collected with
//                       api.sigwaitinfo(); si_fd maps back with api.fasync_fd(). A signal
//                       names one socket to drive; SIGIO (the kernel's queue overflow) or a
//                       timeout makes it sweep every socket, so a lost signal costs one tick.
//   5. AsyncEcho        no thread: submit_accept / submit_recv / submit_send with completion
//                       callbacks (run on ustack's stack thread); each completion submits the
//                       next step. ustack only (KernelApi::submit_* say -ENOSYS: no io_uring).
//
// Every server echoes each byte back in order, handles half-close (on EOF it sends what is
// pending, then closes), peer resets (counted, the connection dropped, the server carries on)
// and slow readers (it stops reading a connection while its echo cannot be sent: flow control
// reaches the client's sender). Data is sent with MSG_NOSIGNAL (Linux would raise SIGPIPE).
//
// Threads: start() and stop() from one controlling thread; stats() from any thread. Servers
// start their threads and pause through EchoOptions::threads: std::threads and the steady
// clock by default (rt::Runtime, the kernel), World::spawn and virtual time under sim::World.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ustack/base/time.h"

namespace ustack::examples {

enum class Model : uint8_t { kBlocking, kNonBlocking, kEpoll, kSignal, kAsync };
inline constexpr Model kAllModels[] = {Model::kBlocking, Model::kNonBlocking, Model::kEpoll,
                                       Model::kSignal, Model::kAsync};

inline std::string_view model_name(Model m) {
  switch (m) {
    case Model::kBlocking:
      return "blocking";
    case Model::kNonBlocking:
      return "nonblocking";
    case Model::kEpoll:
      return "epoll";
    case Model::kSignal:
      return "signal";
    case Model::kAsync:
      return "async";
  }
  return "?";
}

// How a server runs its threads: the runner's business, so the same server runs under
// rt::Runtime (the defaults: std::thread, the steady clock) and under sim::World (World::spawn:
// cooperative threads on the virtual clock; see tests/unit/sim/c10k_test.cc).
struct ThreadHooks {
  std::function<void(std::function<void()>)> spawn;  // start fn on a new application thread
  // Called by the controlling thread (start/stop) until `done()` holds; each call waits a bit.
  std::function<void(const std::function<bool()>&)> wait_until;
  std::function<void(Duration)> pause;  // a server thread pauses (model 2's back-off)
};

struct EchoOptions {
  int backlog = 4096;
  size_t buf_size = 64 * 1024;             // per connection (models 1, 2, 3, 4, 5)
  Duration tick = Duration::ms(50);        // how soon an idle server notices stop()
  int rt_signal = 1;                       // model 4: the signal is SIGRTMIN + rt_signal
  Duration max_backoff = Duration::ms(1);  // model 2: the longest idle sleep
  ThreadHooks threads;                     // unset members: std::thread and the steady clock
};

// What a server did (atomics: read from any thread while it runs).
struct EchoStats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> closed{0};   // connections finished (any reason)
  std::atomic<uint64_t> eofs{0};     // ... by the peer's FIN
  std::atomic<uint64_t> resets{0};   // ... by ECONNRESET / EPIPE
  std::atomic<uint64_t> errors{0};   // ... by any other error
  std::atomic<uint64_t> bytes{0};    // bytes echoed
  std::atomic<uint64_t> eagain{0};   // sends that found the peer's window/buffer full
  std::atomic<uint64_t> signals{0};  // model 4: signals collected
};

template <class Api>
class EchoServer {
 public:
  using Fd = int64_t;
  EchoServer(Api& api, EchoOptions opt) : api_(api), opt_(opt) {}
  virtual ~EchoServer() = default;
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  virtual Model model() const = 0;
  // Listens on `addr` (port 0: an ephemeral one, see port()) and starts serving. 0, or -errno
  // (-ENOSYS: this model's backend is not available in `Api`).
  virtual int start(const sockaddr_in& addr) = 0;
  // Stops serving and closes every socket; waits for the server's threads/completions.
  virtual void stop() = 0;

  uint16_t port() const { return port_; }
  const EchoStats& stats() const { return stats_; }

 protected:
  // socket + SO_REUSEADDR + bind + listen; port_ from getsockname.
  int open_listener(const sockaddr_in& addr, int type_flags) {
    const Fd l = api_.socket(AF_INET, SOCK_STREAM | type_flags, 0);
    if (l < 0) return static_cast<int>(l);
    const int one = 1;
    int r = api_.setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (r == 0) r = api_.bind(l, addr);
    if (r == 0) r = api_.listen(l, opt_.backlog);
    sockaddr_in local{};
    if (r == 0) r = api_.getsockname(l, &local);
    if (r != 0) {
      (void)api_.close(l);
      return r;
    }
    port_ = ntohs(local.sin_port);
    listener_ = l;
    return 0;
  }
  // A connection ended with `err` (0: the peer's FIN; -ECANCELED: stop()).
  void count_end(int64_t err) {
    if (err == -ECANCELED) {
      // stop() ended it: neither the peer's doing nor an error
    } else if (err == 0) {
      ++stats_.eofs;
    } else if (err == -ECONNRESET || err == -EPIPE) {
      ++stats_.resets;
    } else {
      ++stats_.errors;
    }
    ++stats_.closed;
  }
  int set_timeouts(Fd fd) {
    timeval tv{};
    tv.tv_sec = opt_.tick.nanos() / 1'000'000'000;
    tv.tv_usec = (opt_.tick.nanos() % 1'000'000'000) / 1000;
    int r = api_.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (r == 0) r = api_.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return r;
  }
  int tick_ms() const {
    return static_cast<int>(std::max<int64_t>(1, opt_.tick.nanos() / 1000000));
  }
  // Runs fn on a new server thread (ThreadHooks::spawn, or a detached std::thread); live_
  // counts them, and the last thing a thread does is the decrement, so `this` may go once
  // wait_threads() returned.
  void spawn(std::function<void()> fn) {
    ++live_;
    auto body = [this, fn = std::move(fn)] {
      fn();
      --live_;
    };
    if (opt_.threads.spawn) {
      opt_.threads.spawn(std::move(body));
    } else {
      std::thread(std::move(body)).detach();
    }
  }
  void wait_until(const std::function<bool()>& done) {
    if (opt_.threads.wait_until) {
      while (!done()) opt_.threads.wait_until(done);
    } else {
      while (!done()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  void wait_threads() {
    wait_until([this] { return live_.load() == 0; });
  }
  void pause(Duration d) {
    if (opt_.threads.pause) {
      opt_.threads.pause(d);
    } else {
      std::this_thread::sleep_for(std::chrono::nanoseconds(d.nanos()));
    }
  }

  Api& api_;
  EchoOptions opt_;
  EchoStats stats_;
  Fd listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> live_{0};  // server threads running (spawn)
};

// ---- 1. blocking: a thread per connection -------------------------------------------------------

template <class Api>
class BlockingEcho final : public EchoServer<Api> {
  using Base = EchoServer<Api>;
  using Fd = typename Base::Fd;

 public:
  explicit BlockingEcho(Api& api, EchoOptions opt = {}) : Base(api, opt) {}
  ~BlockingEcho() override { stop(); }
  Model model() const override { return Model::kBlocking; }

  int start(const sockaddr_in& addr) override {
    if (int r = this->open_listener(addr, 0); r != 0) return r;
    if (int r = this->set_timeouts(this->listener_); r != 0) return r;
    this->spawn([this] { accept_loop(); });
    return 0;
  }

  void stop() override {
    this->stop_ = true;
    // Every thread wakes within a tick (SO_RCVTIMEO/SO_SNDTIMEO) and leaves; the last thing a
    // thread does is the decrement, so `this` may go once the count is zero.
    this->wait_threads();
    if (this->listener_ >= 0) (void)this->api_.close(this->listener_);
    this->listener_ = -1;
  }

 private:
  void accept_loop() {
    while (!this->stop_) {
      const Fd c = this->api_.accept(this->listener_, nullptr, 0);
      if (c == -EAGAIN || c == -EINTR || c == -ECONNABORTED) continue;  // a tick, or a raced peer
      if (c < 0) break;
      ++this->stats_.accepted;
      (void)this->set_timeouts(c);
      this->spawn([this, c] { serve(c); });
    }
  }

  void serve(Fd c) {
    std::vector<uint8_t> buf(this->opt_.buf_size);
    int64_t end = 0;
    while (!this->stop_) {
      const ssize_t n = this->api_.recv(c, buf.data(), buf.size(), 0);
      if (n == -EAGAIN || n == -EINTR) continue;  // SO_RCVTIMEO: look at stop_
      if (n <= 0) {
        end = n;
        break;
      }
      size_t off = 0;
      while (off < static_cast<size_t>(n) && !this->stop_) {
        const ssize_t w =
            this->api_.send(c, buf.data() + off, static_cast<size_t>(n) - off, MSG_NOSIGNAL);
        if (w == -EAGAIN || w == -EINTR) {
          ++this->stats_.eagain;  // a whole SO_SNDTIMEO without room: a slow reader
          continue;
        }
        if (w < 0) {
          end = w;
          break;
        }
        off += static_cast<size_t>(w);
        this->stats_.bytes += static_cast<uint64_t>(w);
      }
      if (end != 0) break;
    }
    this->count_end(this->stop_ && end == 0 ? -ECANCELED : end);
    (void)this->api_.close(c);
  }
};

// ---- the per-connection pump of models 2, 3 and 4 -------------------------------------------

// One non-blocking connection: the bytes received but not yet echoed are buf[off, len).
struct NbConn {
  int64_t fd = -1;
  std::vector<uint8_t> buf;
  size_t off = 0, len = 0;
};

enum class PumpResult : uint8_t { kIdle, kProgress, kClosed };

// Drives one non-blocking connection until it would block: flush the pending echo; while
// nothing is pending, receive and echo. A connection whose echo cannot leave is not read
// (flow control: its receive window closes and the client's send blocks). On EOF or an error
// the caller closes it (kClosed; `end` is 0 for EOF, else -errno).
template <class Api>
PumpResult pump(Api& api, NbConn& c, EchoStats& st, int64_t* end) {
  bool progress = false;
  for (;;) {
    while (c.off < c.len) {
      const ssize_t w = api.send(c.fd, c.buf.data() + c.off, c.len - c.off, MSG_NOSIGNAL);
      if (w == -EAGAIN) {
        ++st.eagain;
        return progress ? PumpResult::kProgress : PumpResult::kIdle;  // wait for EPOLLOUT
      }
      if (w < 0) {
        *end = w;
        return PumpResult::kClosed;
      }
      c.off += static_cast<size_t>(w);
      st.bytes += static_cast<uint64_t>(w);
      progress = true;
    }
    c.off = c.len = 0;
    const ssize_t n = api.recv(c.fd, c.buf.data(), c.buf.size(), 0);
    if (n == -EAGAIN) return progress ? PumpResult::kProgress : PumpResult::kIdle;
    if (n <= 0) {
      *end = n;  // 0: EOF with nothing left to echo
      return PumpResult::kClosed;
    }
    c.len = static_cast<size_t>(n);
    progress = true;
  }
}

// ---- 2. non-blocking: one thread, busy-polling ------------------------------------------------

template <class Api>
class NonBlockingEcho final : public EchoServer<Api> {
  using Base = EchoServer<Api>;
  using Fd = typename Base::Fd;

 public:
  static constexpr int kSpinPasses = 64;  // idle passes that only yield before sleeping
  explicit NonBlockingEcho(Api& api, EchoOptions opt = {}) : Base(api, opt) {}
  ~NonBlockingEcho() override { stop(); }
  Model model() const override { return Model::kNonBlocking; }

  int start(const sockaddr_in& addr) override {
    if (int r = this->open_listener(addr, SOCK_NONBLOCK); r != 0) return r;
    this->spawn([this] { loop(); });
    return 0;
  }

  void stop() override {
    this->stop_ = true;
    this->wait_threads();
  }

 private:
  void loop() {
    std::vector<std::unique_ptr<NbConn>> conns;
    int idle = 0;
    while (!this->stop_) {
      bool progress = false;
      for (;;) {
        const Fd c = this->api_.accept(this->listener_, nullptr, SOCK_NONBLOCK);
        if (c < 0) break;  // -EAGAIN: nobody waiting (other errors: try again next pass)
        ++this->stats_.accepted;
        auto nc = std::make_unique<NbConn>();
        nc->fd = c;
        nc->buf.resize(this->opt_.buf_size);
        conns.push_back(std::move(nc));
        progress = true;
      }
      for (size_t i = 0; i < conns.size();) {
        int64_t end = 0;
        const PumpResult r = pump(this->api_, *conns[i], this->stats_, &end);
        if (r == PumpResult::kClosed) {
          this->count_end(end);
          (void)this->api_.close(conns[i]->fd);
          conns[i] = std::move(conns.back());
          conns.pop_back();
          progress = true;
          continue;
        }
        progress |= r == PumpResult::kProgress;
        ++i;
      }
      // The busy-poll's only brake: yield while recently busy, then sleep 1 us, 2 us, ... up
      // to max_backoff. Any progress resets it.
      if (progress) {
        idle = 0;
      } else if (++idle <= kSpinPasses) {
        this->pause(Duration::zero());  // a yield
      } else {
        const int64_t us = int64_t{1} << std::min(idle - kSpinPasses - 1, 20);
        const int64_t cap = std::max<int64_t>(1, this->opt_.max_backoff.nanos() / 1000);
        this->pause(Duration::us(std::min(us, cap)));
      }
    }
    for (auto& c : conns) (void)this->api_.close(c->fd);
    (void)this->api_.close(this->listener_);
    this->listener_ = -1;
  }
};

// ---- 3. epoll, edge-triggered -------------------------------------------------------------------

template <class Api>
class EpollEcho final : public EchoServer<Api> {
  using Base = EchoServer<Api>;
  using Fd = typename Base::Fd;

 public:
  static constexpr int kMaxEvents = 256;
  explicit EpollEcho(Api& api, EchoOptions opt = {}) : Base(api, opt) {}
  ~EpollEcho() override { stop(); }
  Model model() const override { return Model::kEpoll; }

  int start(const sockaddr_in& addr) override {
    ep_ = this->api_.epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) return static_cast<int>(ep_);
    int r = this->open_listener(addr, SOCK_NONBLOCK);
    if (r == 0) r = add(this->listener_, EPOLLIN | EPOLLET);
    if (r != 0) {
      (void)this->api_.close(ep_);
      ep_ = -1;
      return r;
    }
    this->spawn([this] { loop(); });
    return 0;
  }

  void stop() override {
    this->stop_ = true;
    this->wait_threads();
  }

 private:
  int add(Fd fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = static_cast<uint64_t>(fd);
    return this->api_.epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }

  void accept_all() {
    for (;;) {
      const Fd c = this->api_.accept(this->listener_, nullptr, SOCK_NONBLOCK);
      if (c < 0) return;  // -EAGAIN: the edge is consumed
      ++this->stats_.accepted;
      auto nc = std::make_unique<NbConn>();
      nc->fd = c;
      nc->buf.resize(this->opt_.buf_size);
      // Both directions, edge-triggered: an edge comes when data arrives and when room opens
      // after a send hit -EAGAIN. EPOLL_CTL_ADD reports what is ready already.
      if (add(c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) != 0) {
        this->count_end(-EINVAL);
        (void)this->api_.close(c);
        continue;
      }
      conns_.emplace(c, std::move(nc));
    }
  }

  void loop() {
    std::vector<epoll_event> evs(kMaxEvents);
    while (!this->stop_) {
      const int n = this->api_.epoll_wait(ep_, evs.data(), kMaxEvents, this->tick_ms());
      for (int i = 0; i < n; ++i) {
        const Fd fd = static_cast<Fd>(evs[static_cast<size_t>(i)].data.u64);
        if (fd == this->listener_) {
          accept_all();
          continue;
        }
        auto it = conns_.find(fd);
        if (it == conns_.end()) continue;
        int64_t end = 0;
        if (pump(this->api_, *it->second, this->stats_, &end) == PumpResult::kClosed) {
          this->count_end(end);
          (void)this->api_.close(fd);  // also leaves the epoll set
          conns_.erase(it);
        }
      }
      if (n < 0 && n != -EINTR) this->pause(Duration::ms(1));
    }
    for (auto& [fd, c] : conns_) (void)this->api_.close(fd);
    conns_.clear();
    (void)this->api_.close(this->listener_);
    (void)this->api_.close(ep_);
    this->listener_ = ep_ = -1;
  }

  Fd ep_ = -1;
  std::unordered_map<Fd, std::unique_ptr<NbConn>> conns_;  // the loop thread's
};

// ---- 4. signal-driven ---------------------------------------------------------------------------

template <class Api>
class SignalEcho final : public EchoServer<Api> {
  using Base = EchoServer<Api>;
  using Fd = typename Base::Fd;

 public:
  // Block this signal (and SIGIO) in every thread of the process before starting threads: the
  // signal is directed at the server's thread (F_OWNER_TID), but a tid can be reused after
  // the thread ends, and an unblocked real-time signal would kill the process.
  static int signal_number(const EchoOptions& opt) { return SIGRTMIN + opt.rt_signal; }
  static void block_signals(const EchoOptions& opt = {}) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal_number(opt));
    sigaddset(&set, SIGIO);
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }

  explicit SignalEcho(Api& api, EchoOptions opt = {}) : Base(api, opt) {}
  ~SignalEcho() override { stop(); }
  Model model() const override { return Model::kSignal; }

  int start(const sockaddr_in& addr) override {
    if (int r = this->open_listener(addr, SOCK_NONBLOCK); r != 0) return r;
    // The owner is the server's thread, so the thread sets up its sockets itself; start()
    // waits for the listener's result.
    this->spawn([this] { loop(); });
    this->wait_until([this] { return ready_.load() != kPending; });
    const int r = ready_.load();
    if (r != 0) stop();
    return r;
  }

  void stop() override {
    this->stop_ = true;
    this->wait_threads();
  }

 private:
  // O_ASYNC with this thread as owner and our signal (F_SETSIG: si_fd is filled in).
  int make_async(Fd fd) {
    f_owner_ex owner{F_OWNER_TID, ::gettid()};
    int r = this->api_.fcntl(fd, F_SETOWN_EX, reinterpret_cast<intptr_t>(&owner));
    if (r == 0) r = this->api_.fcntl(fd, F_SETSIG, signal_number(this->opt_));
    if (r == 0) r = this->api_.fcntl(fd, F_SETFL, O_NONBLOCK | O_ASYNC);
    return r;
  }

  void accept_all() {
    for (;;) {
      const Fd c = this->api_.accept(this->listener_, nullptr, SOCK_NONBLOCK);
      if (c < 0) return;
      ++this->stats_.accepted;
      if (make_async(c) != 0) {
        this->count_end(-EINVAL);
        (void)this->api_.close(c);
        continue;
      }
      auto nc = std::make_unique<NbConn>();
      nc->fd = c;
      nc->buf.resize(this->opt_.buf_size);
      NbConn& ref = *nc;
      conns_.emplace(c, std::move(nc));
      // Data may have come before O_ASYNC was set (no signal for it): look now.
      drive(ref);
    }
  }

  // Returns false if the connection was closed (and erased).
  bool drive(NbConn& c) {
    int64_t end = 0;
    if (pump(this->api_, c, this->stats_, &end) != PumpResult::kClosed) return true;
    this->count_end(end);
    const Fd fd = c.fd;
    (void)this->api_.close(fd);
    conns_.erase(fd);
    return false;
  }

  void sweep() {
    accept_all();
    std::vector<Fd> fds;
    fds.reserve(conns_.size());
    for (auto& [fd, c] : conns_) fds.push_back(fd);
    for (Fd fd : fds) {
      auto it = conns_.find(fd);
      if (it != conns_.end()) drive(*it->second);
    }
  }

  void loop() {
    block_signals(this->opt_);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal_number(this->opt_));
    sigaddset(&set, SIGIO);
    ready_.store(make_async(this->listener_));
    sweep();  // connections that arrived before the listener was async
    while (!this->stop_) {
      siginfo_t info{};
      const int r = this->api_.sigwaitinfo(set, &info, this->opt_.tick);
      if (r == signal_number(this->opt_)) {
        ++this->stats_.signals;
        const Fd fd = this->api_.fasync_fd(info.si_fd);
        if (fd == this->listener_) {
          accept_all();
        } else if (auto it = conns_.find(fd); it != conns_.end()) {
          drive(*it->second);
        }
        continue;
      }
      // SIGIO: the kernel's real-time signal queue overflowed (events were lost); -EAGAIN: a
      // quiet tick. Either way look at everything.
      sweep();
    }
    for (auto& [fd, c] : conns_) (void)this->api_.close(fd);
    conns_.clear();
    (void)this->api_.close(this->listener_);
    this->listener_ = -1;
    // Signals still queued for this thread die with it.
  }

  std::unordered_map<Fd, std::unique_ptr<NbConn>> conns_;  // the loop thread's
  static constexpr int kPending = 1;                       // make_async returns 0 or -errno
  std::atomic<int> ready_{kPending};  // the listener's setup result, from the loop thread
};

// ---- 5. asynchronous: completions ---------------------------------------------------------------

template <class Api>
class AsyncEcho final : public EchoServer<Api> {
  using Base = EchoServer<Api>;
  using Fd = typename Base::Fd;

 public:
  explicit AsyncEcho(Api& api, EchoOptions opt = {}) : Base(api, opt) {}
  ~AsyncEcho() override { stop(); }
  Model model() const override { return Model::kAsync; }

  int start(const sockaddr_in& addr) override {
    if (int r = this->open_listener(addr, SOCK_NONBLOCK); r != 0) return r;
    started_ = true;
    const int64_t r = submit_accept();
    if (r < 0) {
      started_ = false;
      (void)this->api_.close(this->listener_);
      this->listener_ = -1;
      return static_cast<int>(r);
    }
    return 0;
  }

  void stop() override {
    if (!started_) return;
    std::vector<Fd> fds;
    {
      std::lock_guard<std::mutex> g(mu_);
      this->stop_ = true;  // under mu_: a connection accepted from now on is closed at once
      for (auto& [fd, c] : conns_) fds.push_back(fd);
    }
    // Closing completes each pending operation with -ECANCELED; those completions free the
    // connections. A handle closed meanwhile by its own completion is -EBADF here: harmless.
    (void)this->api_.close(this->listener_);
    for (Fd fd : fds) (void)this->api_.close(fd);
    this->wait_until([this] { return pending_.load() == 0; });
    started_ = false;
    this->listener_ = -1;
  }

 private:
  struct Conn {
    Fd fd = -1;
    std::vector<uint8_t> buf;
  };

  // Each submission counts in pending_ until its completion has run to the end.
  int64_t submit_accept() {
    ++pending_;
    const int64_t r =
        this->api_.submit_accept(this->listener_, nullptr, [this](int64_t res) { on_accept(res); });
    if (r < 0) --pending_;
    return r;
  }

  void on_accept(int64_t res) {
    if (res >= 0) {
      ++this->stats_.accepted;
      auto c = std::make_unique<Conn>();
      c->fd = res;
      c->buf.resize(this->opt_.buf_size);
      Conn* raw = c.get();
      bool open = false;
      {
        std::lock_guard<std::mutex> g(mu_);
        if (!this->stop_) {
          conns_.emplace(res, std::move(c));
          open = true;
        }
      }
      if (open) {
        submit_recv(raw);
      } else {
        this->count_end(-ECANCELED);
        (void)this->api_.close(res);
      }
    }
    // Keep one accept outstanding until the listener is closed (-ECANCELED / -EBADF).
    if (!this->stop_ && res != -ECANCELED && res != -EBADF) (void)submit_accept();
    --pending_;
  }

  void submit_recv(Conn* c) {
    ++pending_;
    const int64_t r = this->api_.submit_recv(c->fd, std::span<uint8_t>(c->buf), 0,
                                             [this, c](int64_t res) { on_recv(c, res); });
    if (r < 0) {
      --pending_;
      finish(c, r);
    }
  }

  void on_recv(Conn* c, int64_t res) {
    if (res <= 0) {
      finish(c, res);  // 0: EOF (everything before it was echoed already)
    } else {
      ++pending_;
      const auto n = static_cast<size_t>(res);
      const int64_t r =
          this->api_.submit_send(c->fd, std::span<const uint8_t>(c->buf.data(), n), MSG_NOSIGNAL,
                                 [this, c, n](int64_t sres) { on_send(c, n, sres); });
      if (r < 0) {
        --pending_;
        finish(c, r);
      }
    }
    --pending_;
  }

  void on_send(Conn* c, size_t n, int64_t res) {
    if (res < 0) {
      finish(c, res);
    } else if (static_cast<size_t>(res) < n) {
      this->stats_.bytes += static_cast<uint64_t>(res);
      finish(c, -ECANCELED);  // cut short by close() (stop): the bytes queued so far
    } else {
      this->stats_.bytes += n;  // a send completes once every byte is queued
      submit_recv(c);
    }
    --pending_;
  }

  // The connection's last operation completed with `end`: close it and free it.
  void finish(Conn* c, int64_t end) {
    this->count_end(end);
    const Fd fd = c->fd;
    (void)this->api_.close(fd);
    std::lock_guard<std::mutex> g(mu_);
    conns_.erase(fd);
  }

  bool started_ = false;
  std::mutex mu_;  // guards conns_ (completions run on the stack thread, stop() elsewhere)
  std::unordered_map<Fd, std::unique_ptr<Conn>> conns_;
  std::atomic<int64_t> pending_{0};
};

// ---- the factory
// ----------------------------------------------------------------------------------

template <class Api>
std::unique_ptr<EchoServer<Api>> make_echo_server(Model m, Api& api, EchoOptions opt = {}) {
  switch (m) {
    case Model::kBlocking:
      return std::make_unique<BlockingEcho<Api>>(api, opt);
    case Model::kNonBlocking:
      return std::make_unique<NonBlockingEcho<Api>>(api, opt);
    case Model::kEpoll:
      return std::make_unique<EpollEcho<Api>>(api, opt);
    case Model::kSignal:
      return std::make_unique<SignalEcho<Api>>(api, opt);
    case Model::kAsync:
      return std::make_unique<AsyncEcho<Api>>(api, opt);
  }
  return nullptr;
}

}  // namespace ustack::examples
