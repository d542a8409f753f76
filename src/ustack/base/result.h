// base/result.h — Result<T, E>: a value or a typed error, no exceptions on the data path.
//
// A stand-in for C++23 std::expected. API errors are values (smoltcp's SendError, gVisor's
// tcpip.Error); reading the value of an error Result is a programming bug and asserts.
//
//   Result<UdpView, WireError> r = UdpView::parse(bytes);
//   if (!r) return drop(pkt, to_drop_reason(r.error()));
//   const UdpView& v = *r;
#pragma once

#include <type_traits>
#include <utility>
#include <variant>

#include "ustack/base/assert.h"

namespace ustack {

// Wraps an error so that Result<int, int> stays unambiguous: `return Err{MyError::kFoo};`.
template <class E>
struct Err {
  E error;
};
template <class E>
Err(E) -> Err<E>;

template <class T, class E>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  using error_type = E;

  // Construct the value in place (no temporary to copy: parsers fill a Repr inside its Result).
  template <class... Args>
  explicit Result(std::in_place_t, Args&&... args)
      : v_(std::in_place_index<0>, std::forward<Args>(args)...) {}
  Result(const T& v) : v_(std::in_place_index<0>, v) {}        // NOLINT: implicit by design
  Result(T&& v) : v_(std::in_place_index<0>, std::move(v)) {}  // NOLINT
  template <class E2, class = std::enable_if_t<std::is_convertible_v<E2, E>>>
  Result(Err<E2> e) : v_(std::in_place_index<1>, E(std::move(e.error))) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    check();
    return std::get<0>(v_);
  }
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  template <class U>
  T value_or(U&& fallback) const& {
    return ok() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }

  const E& error() const {
    USTACK_ASSERT(!ok(), "Result::error() on a value");
    return std::get<1>(v_);
  }

 private:
  void check() const { USTACK_ASSERT(ok(), "Result::value() on an error"); }
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  template <class E2, class = std::enable_if_t<std::is_convertible_v<E2, E>>>
  Result(Err<E2> e) : err_(E(std::move(e.error))), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const { USTACK_ASSERT(ok_, "Result::value() on an error"); }
  const E& error() const {
    USTACK_ASSERT(!ok_, "Result::error() on a value");
    return err_;
  }

 private:
  E err_{};
  bool ok_ = true;
};

// `return Ok();` for Result<void, E>.
struct Ok {
  template <class E>
  operator Result<void, E>() const {  // NOLINT: implicit by design
    return Result<void, E>();
  }
};

}  // namespace ustack
