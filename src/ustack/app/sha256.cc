// app/sha256.cc — Sha256 over libcrypto's EVP digest calls (EVP_DigestInit_ex / Update / Final).
#include "ustack/app/sha256.h"

#include <openssl/evp.h>

#include <utility>

#include "ustack/base/assert.h"

namespace ustack::app {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  USTACK_ASSERT(ctx_ != nullptr, "EVP_MD_CTX_new failed (out of memory)");
  reset();
}

Sha256::~Sha256() {
  if (ctx_ != nullptr) EVP_MD_CTX_free(ctx_);
}

Sha256::Sha256(Sha256&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)) {}

Sha256& Sha256::operator=(Sha256&& o) noexcept {
  if (this != &o) {
    if (ctx_ != nullptr) EVP_MD_CTX_free(ctx_);
    ctx_ = std::exchange(o.ctx_, nullptr);
  }
  return *this;
}

void Sha256::reset() {
  const int ok = EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
  USTACK_ASSERT(ok == 1, "EVP_DigestInit_ex(sha256) failed");
}

void Sha256::update(std::span<const uint8_t> data) {
  if (data.empty()) return;
  const int ok = EVP_DigestUpdate(ctx_, data.data(), data.size());
  USTACK_ASSERT(ok == 1, "EVP_DigestUpdate failed");
}

Sha256::Digest Sha256::finish() {
  Digest d{};
  unsigned int len = 0;
  const int ok = EVP_DigestFinal_ex(ctx_, d.data(), &len);
  USTACK_ASSERT(ok == 1 && len == kDigestLen, "EVP_DigestFinal_ex failed");
  reset();
  return d;
}

std::string Sha256::finish_hex() { return hex(finish()); }

std::string Sha256::hex(const Digest& d) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(2 * kDigestLen, '0');
  for (size_t i = 0; i < kDigestLen; ++i) {
    s[2 * i] = kDigits[d[i] >> 4];
    s[2 * i + 1] = kDigits[d[i] & 0xf];
  }
  return s;
}

std::string Sha256::hex_of(std::span<const uint8_t> data) {
  Sha256 h;
  h.update(data);
  return h.finish_hex();
}

}  // namespace ustack::app
