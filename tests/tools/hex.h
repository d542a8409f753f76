// tests/tools/hex.h — golden fixtures as hex strings: hex("4500 0054...") -> bytes.
// Whitespace is skipped so captures can be pasted as tshark -x prints them (without offsets).
#pragma once

#include <cctype>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace ustack::testtools {

inline std::vector<uint8_t> hex(std::string_view s) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::invalid_argument("hex fixture: not a hex digit");
  };
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    const int n = nibble(c);
    if (hi < 0) {
      hi = n;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | n));
      hi = -1;
    }
  }
  if (hi >= 0) throw std::invalid_argument("hex fixture: odd number of digits");
  return out;
}

}  // namespace ustack::testtools
