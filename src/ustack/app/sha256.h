// app/sha256.h — Sha256: an incremental SHA-256 (FIPS 180-4) over OpenSSL's libcrypto EVP API.
//
// The TCP test apps (TcpSink, TcpSource) hash every byte they move so a transfer can be checked
// end to end against `sha256sum` on the Linux side. The digest comes from libcrypto, never
// from a hand-written implementation: a second, independent implementation is the point.
// One context is allocated per object (per connection), none per update.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

// libcrypto's context type, declared here so users need not include OpenSSL headers.
struct evp_md_ctx_st;

namespace ustack::app {

class Sha256 {
 public:
  static constexpr size_t kDigestLen = 32;
  using Digest = std::array<uint8_t, kDigestLen>;

  Sha256();
  ~Sha256();
  Sha256(Sha256&& o) noexcept;
  Sha256& operator=(Sha256&& o) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::span<const uint8_t> data);
  // The digest of everything given to update() since construction or the last reset(); the
  // object is then reset, ready for a new message.
  Digest finish();
  // finish(), as 64 lowercase hex digits (sha256sum's format).
  std::string finish_hex();
  void reset();

  // One-shot helpers.
  static std::string hex(const Digest& d);
  static std::string hex_of(std::span<const uint8_t> data);

 private:
  evp_md_ctx_st* ctx_ = nullptr;
};

}  // namespace ustack::app
