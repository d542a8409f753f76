// wire/wire.h — conventions shared by every wire format.
//
// Each protocol has two types (smoltcp's split):
//   XxxView  borrows bytes. XxxView::parse(bytes) is the only way to make one from input; it
//            checks every length once, so no accessor can read out of bounds afterwards, and
//            it cuts off trailing link padding where the format has a length field.
//   XxxRepr  what the packet means: host byte order, validated, ==-comparable in tests.
//            XxxRepr::parse(view, ...) rejects impossible field values with a specific
//            WireError and verifies checksums; emit(...) writes exactly the bytes it promises
//            (header_len() for headers, buffer_len() where the checksum covers the payload)
//            and computes checksums.
// Formats hold no state; nothing here allocates.
#pragma once

#include <cstdint>
#include <string_view>

#include "ustack/base/drop_reason.h"

namespace ustack::wire {

enum class WireError : uint8_t {
  kTruncated,     // shorter than the fixed header, or than a length field says
  kBadLength,     // a length field that cannot be (IPv4 total length < header length, ...)
  kBadHeaderLen,  // a header-length field out of range (IHL < 5, TCP data offset < 5)
  kBadVersion,    // IP version != 4
  kBadChecksum,   // checksum does not verify
  kBadOption,     // an option whose length runs past the header or is impossible
  kUnsupported,   // well-formed but not something we handle (ARP over non-Ethernet)
  kMalformed,     // an impossible combination of fields
};
std::string_view wire_error_name(WireError e);
DropReason to_drop_reason(WireError e);

// Verify checksums on parse (the default) or trust them (a device that already checked,
// a fuzzer that wants to reach code behind the checksum).
enum class Checksum : uint8_t { kVerify, kIgnore };

}  // namespace ustack::wire
