// socket/coro.h — C++20 coroutines over the asynchronous socket calls (model 5), so that an
// application reads sequentially while nothing blocks:
//
//   Task<> echo(SocketLayer& api, Fd c) {
//     std::array<uint8_t, 4096> buf;
//     for (;;) {
//       const int64_t n = co_await async_recv(api, c, buf);
//       if (n <= 0) break;                                   // end of stream or -errno
//       if (co_await async_send(api, c, std::span(buf).first(n)) < 0) break;
//     }
//     api.close(c);
//   }
//   Task<> server(SocketLayer& api, Fd l) {
//     for (;;) {
//       const int64_t c = co_await async_accept(api, l);
//       if (c < 0) co_return;                                // -ECANCELED once l is closed
//       spawn(api, echo(api, c));                            // one detached task per client
//     }
//   }
//   spawn(api, server(api, l));
//
// Pieces:
//   - Task<T>: a coroutine returning T (Task<> returns nothing). LAZY: it runs only when it is
//     awaited (co_await task: the awaiter resumes when it ends and gets its value), started
//     (task.start(): the caller keeps it and reads done() / result()), or spawned
//     (spawn(api, std::move(task)): detached, the frame frees itself when it ends).
//     Destroying a Task that has not started frees it; one that has finished too; one that is
//     still running is detached (it finishes on its own), because its frame is what a pending
//     completion will resume.
//   - Awaitables async_accept / async_connect / async_recv / async_send: co_await gives the
//     completion's result (see socket.h's submit_* and async.cc: bytes, a new Fd, 0, or
//     -errno). An invalid submission (-EBADF...) returns at once without suspending.
//
// Threads: an awaitable resumes its coroutine from the completion callback, i.e. on the stack
// thread with the stack lock held (Stack::poll). So after its first co_await on I/O a
// coroutine runs on the stack thread, and it must not block there (no blocking socket calls:
// they return -EAGAIN on the stack thread). Starting, spawning, reading done() and destroying
// a Task from another thread must hold the stack lock (spawn() takes it; otherwise use
// LockedCall), so the stack thread cannot resume it halfway. Under ManualEnv and sim::World
// there is one thread and nothing to do.
//
// Teardown: closing a socket completes its operations with -ECANCELED, which resumes the
// coroutines awaiting them; SocketLayer's destructor closes every socket and delivers those
// completions, so coroutines that stop on errors all finish and free their frames.
//
// No exceptions (the stack does not use them): an exception escaping a Task terminates.
// There is no sleep awaitable: the socket layer has no timer of its own to build it on.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

#include "ustack/socket/socket.h"

namespace ustack::socket {

template <typename T = void>
class Task;

namespace detail {

// What every Task's promise shares.
struct PromiseBase {
  std::coroutine_handle<> continuation;  // the coroutine awaiting this one (resumed at its end)
  bool started = false;
  bool detached = false;  // nobody owns the frame: it frees itself at its end

  // Lazy: the body starts at start(), spawn() or co_await, never at the call.
  std::suspend_always initial_suspend() noexcept { return {}; }

  // At the end: resume the awaiter (symmetric transfer: a chain of tasks ending one after the
  // other does not grow the stack), or free a detached frame, or stay for the owner to read.
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      PromiseBase& p = h.promise();
      if (p.continuation) return p.continuation;
      if (p.detached) h.destroy();
      return std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { std::terminate(); }
};

template <typename T>
struct Promise : PromiseBase {
  std::optional<T> value;
  Task<T> get_return_object();
  void return_value(T v) { value.emplace(std::move(v)); }
};

template <>
struct Promise<void> : PromiseBase {
  Task<void> get_return_object();
  void return_void() noexcept {}
};

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(Handle h) : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  // Runs the body until its first suspension (an I/O await) or its end. Only the first call
  // does anything.
  void start() {
    if (h_ && !h_.promise().started) {
      h_.promise().started = true;
      h_.resume();
    }
  }
  bool valid() const { return static_cast<bool>(h_); }
  bool done() const { return h_ && h_.done(); }
  // The co_return value of a finished Task<T>.
  template <typename U = T>
  requires(!std::is_void_v<U>) U& result() { return *h_.promise().value; }

  // co_await task: starts it if needed; the awaiting coroutine resumes when it ends.
  struct Awaiter {
    Handle h;
    bool await_ready() const noexcept { return h.done(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
      h.promise().continuation = awaiting;
      if (h.promise().started) return std::noop_coroutine();  // already running: wait
      h.promise().started = true;
      return h;  // start it now, on this thread, without growing the stack
    }
    T await_resume() {
      if constexpr (!std::is_void_v<T>) return std::move(*h.promise().value);
    }
  };
  Awaiter operator co_await() const noexcept { return Awaiter{h_}; }

 private:
  void reset() {
    if (!h_) return;
    if (h_.done() || !h_.promise().started) {
      h_.destroy();
    } else {
      h_.promise().detached = true;  // suspended on I/O: it frees itself when it ends
    }
    h_ = {};
  }

  Handle h_;
};

namespace detail {
template <typename T>
Task<T> Promise<T>::get_return_object() {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
}  // namespace detail

// Starts `t` detached (under the stack lock): it runs until its first I/O await here, then on
// the stack thread; its frame is freed when it ends.
inline void spawn(SocketLayer& api, Task<> t) {
  LockedCall lock(api.env());
  Task<> owned = std::move(t);  // destroyed (so detached) before the lock is released
  owned.start();
}

// One submit_* call as an awaitable. `Submit` is a callable taking the CompletionFn and
// returning the submission's id or -errno. The completion callback captures one pointer, so
// std::function keeps it inline (no allocation per operation).
template <typename Submit>
class IoAwaitable {
 public:
  explicit IoAwaitable(Submit submit) : submit_(std::move(submit)) {}
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    h_ = h;
    const int64_t id = submit_(CompletionFn([this](int64_t res) {
      res_ = res;
      h_.resume();
    }));
    // From here the completion may resume (and end) the coroutine: touch no member.
    if (id > 0) return true;
    res_ = id;  // the submission failed: no completion will come, do not suspend
    return false;
  }
  int64_t await_resume() const noexcept { return res_; }

 private:
  Submit submit_;
  std::coroutine_handle<> h_;
  int64_t res_ = 0;
};

// co_await async_accept(api, listener, &peer): the new connection's Fd (non-blocking), or
// -errno (-ECANCELED when the listener is closed).
inline auto async_accept(SocketLayer& api, Fd fd, sockaddr_in* peer = nullptr) {
  return IoAwaitable(
      [&api, fd, peer](CompletionFn done) { return api.submit_accept(fd, peer, std::move(done)); });
}

// co_await async_connect(api, fd, addr): 0 once established, or -ECONNREFUSED, -ETIMEDOUT...
inline auto async_connect(SocketLayer& api, Fd fd, const sockaddr_in& addr) {
  return IoAwaitable([&api, fd, addr](CompletionFn done) {
    return api.submit_connect(fd, addr, std::move(done));
  });
}

// co_await async_recv(api, fd, buf): bytes received (> 0), 0 at end of stream, or -errno.
// flags: MSG_PEEK, MSG_WAITALL (fill buf), MSG_DONTWAIT.
inline auto async_recv(SocketLayer& api, Fd fd, std::span<uint8_t> buf, int flags = 0) {
  return IoAwaitable([&api, fd, buf, flags](CompletionFn done) {
    return api.submit_recv(fd, buf, flags, std::move(done));
  });
}

// co_await async_send(api, fd, data): data.size() once every byte is in the send buffer, or
// -errno (-EPIPE, -ECONNRESET...; the bytes queued if an error came after some were).
inline auto async_send(SocketLayer& api, Fd fd, std::span<const uint8_t> data, int flags = 0) {
  return IoAwaitable([&api, fd, data, flags](CompletionFn done) {
    return api.submit_send(fd, data, flags, std::move(done));
  });
}

}  // namespace ustack::socket
