// sim/sim_thread.cc — the baton: one mutex, a condition variable for the world loop and one
// per sim thread. Whoever holds the baton is the only one running; a handoff sets the
// receiver's flag and waits on its own, all under the mutex, so each handoff is a
// happens-before edge for ThreadSanitizer and for the memory model.
#include "ustack/sim/sim_thread.h"

#include <pthread.h>

#include <algorithm>
#include <exception>

#include <fmt/format.h>

#include "ustack/base/assert.h"

namespace ustack::sim {

Scheduler::~Scheduler() { cancel_all(); }

bool Scheduler::on_sim_thread() const {
  return current_ != nullptr && current_->os_id == std::this_thread::get_id();
}

bool Scheduler::can_sleep() const { return on_sim_thread() && !current_->cancelled; }

SimThreadId Scheduler::spawn(std::string name, std::function<void()> fn) {
  auto t = std::make_unique<Thread>();
  t->id = next_id_++;
  t->name = std::move(name);
  t->fn = std::move(fn);
  Thread* raw = t.get();
  threads_.push_back(std::move(t));
  // The OS thread starts when the thread first gets the baton (run_one): a thread that never
  // runs costs nothing. While cancelling, cancel_all picks it up from threads_.
  if (!cancelling_) ready_.push_back(raw);
  return raw->id;
}

void Scheduler::wake(socket::Waiter& w) {
  auto* t = static_cast<Thread*>(w.runner);
  if (t == nullptr || t->state != State::kSleeping || cancelling_) return;
  if (t->deadline != Instant::never()) sleepers_.erase({t->deadline, t->sleep_seq});
  t->state = State::kReady;
  ready_.push_back(t);
}

void Scheduler::sleep(socket::Waiter& w, Instant deadline, Instant now) {
  USTACK_ASSERT(on_sim_thread(), "SimEnv::sleep off a sim thread (can_sleep() said no)");
  Thread* t = current_;
  if (t->cancelled) {
    // The world is ending. Unwind, unless a destructor is already running for an unwind (a
    // second exception would terminate): then this is a spurious return.
    if (std::uncaught_exceptions() == 0) throw ThreadCancelled{};
    return;
  }
  if (w.woken) return;
  w.runner = t;
  t->waiter = &w;
  if (deadline <= now) {
    t->state = State::kReady;  // already due: run again at this instant
    ready_.push_back(t);
  } else {
    t->state = State::kSleeping;
    t->deadline = deadline;
    if (deadline != Instant::never()) {
      t->sleep_seq = ++sleep_seq_;
      sleepers_.emplace(std::pair{deadline, t->sleep_seq}, t);
    }
  }
  yield_to_loop(t, /*park=*/true);
  // The baton is back: woken, deadline passed, or cancelled.
  w.runner = nullptr;
  t->waiter = nullptr;
  t->deadline = Instant::never();
  if (t->cancelled && std::uncaught_exceptions() == 0) throw ThreadCancelled{};
}

void Scheduler::expire(Instant now) {
  while (!sleepers_.empty() && sleepers_.begin()->first.first <= now) {
    Thread* t = sleepers_.begin()->second;
    sleepers_.erase(sleepers_.begin());
    t->state = State::kReady;
    ready_.push_back(t);
  }
}

Instant Scheduler::next_deadline(Instant now) const {
  if (!ready_.empty()) return now;
  return sleepers_.empty() ? Instant::never() : sleepers_.begin()->first.first;
}

size_t Scheduler::run_ready() {
  USTACK_ASSERT(current_ == nullptr, "the world loop runs on no sim thread");
  const size_t n = ready_.size();
  for (size_t i = 0; i < n; ++i) {
    Thread* t = ready_.front();
    ready_.pop_front();
    run_one(t);
    if (t->state == State::kDone) reap(t);
  }
  return n;
}

void Scheduler::run_one(Thread* t) {
  std::unique_lock<std::mutex> lk(mu_);
  current_ = t;
  t->state = State::kRunning;
  t->go = true;
  ++switches_;
  if (!t->started) {
    t->started = true;
    t->os = std::thread(&Scheduler::body, this, t);
    t->os_id = t->os.get_id();  // the thread reads nothing before it gets mu_
  } else {
    t->cv.notify_one();
  }
  loop_cv_.wait(lk, [this] { return loop_go_; });
  loop_go_ = false;
  current_ = nullptr;
}

void Scheduler::yield_to_loop(Thread* t, bool park) {
  std::unique_lock<std::mutex> lk(mu_);
  loop_go_ = true;
  loop_cv_.notify_one();
  if (!park) return;
  t->cv.wait(lk, [t] { return t->go; });
  t->go = false;
}

void Scheduler::body(Thread* t) {
  // Thread names are at most 15 bytes (TASK_COMM_LEN); the end of "host/name" says more.
  const std::string& n = t->name;
  const std::string comm = n.size() <= 15 ? n : n.substr(n.size() - 15);
  ::pthread_setname_np(::pthread_self(), comm.c_str());
  {
    std::unique_lock<std::mutex> lk(mu_);
    t->cv.wait(lk, [t] { return t->go; });
    t->go = false;
  }
  if (!t->cancelled) {
    try {
      t->fn();
    } catch (const ThreadCancelled&) {
      // The world ended under this thread: its stack is unwound, it ends here.
    }
  }
  t->fn = nullptr;  // what the function captured dies here, while the thread holds the baton
  t->state = State::kDone;
  yield_to_loop(t, /*park=*/false);
}

void Scheduler::reap(Thread* t) {
  if (t->os.joinable()) t->os.join();
  auto it = std::find_if(threads_.begin(), threads_.end(),
                         [t](const std::unique_ptr<Thread>& p) { return p.get() == t; });
  USTACK_ASSERT(it != threads_.end(), "a reaped sim thread is live");
  threads_.erase(it);
}

void Scheduler::cancel_all() {
  USTACK_ASSERT(current_ == nullptr, "a world is destroyed from one of its own sim threads");
  cancelling_ = true;
  ready_.clear();
  sleepers_.clear();
  // Oldest first; threads spawned while others unwind are appended and dropped in turn.
  while (!threads_.empty()) {
    Thread* t = threads_.front().get();
    t->cancelled = true;
    if (t->started) {
      run_one(t);
      // A cancelled thread never parks again (its sleeps throw or return), so it finished.
      USTACK_ASSERT(t->state == State::kDone, "a cancelled sim thread did not finish");
    }
    reap(t);
  }
  cancelling_ = false;
}

bool Scheduler::finished(SimThreadId id) const {
  if (id == 0 || id >= next_id_) return false;
  return std::none_of(threads_.begin(), threads_.end(),
                      [id](const std::unique_ptr<Thread>& p) { return p->id == id; });
}

std::string Scheduler::describe() const {
  std::string out;
  for (const auto& t : threads_) {
    out += t->name;
    switch (t->state) {
      case State::kReady:
        out += t->started ? " (runnable)" : " (not started)";
        break;
      case State::kRunning:
        out += " (running)";
        break;
      case State::kSleeping:
        out += t->deadline == Instant::never()
                   ? std::string(" (sleeping)")
                   : fmt::format(" (sleeping until {})", t->deadline.to_string());
        break;
      case State::kDone:
        out += " (done)";
        break;
    }
    out += "\n";
  }
  return out;
}

}  // namespace ustack::sim
