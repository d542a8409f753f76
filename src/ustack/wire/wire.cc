#include "ustack/wire/wire.h"

namespace ustack::wire {

std::string_view wire_error_name(WireError e) {
  switch (e) {
    case WireError::kTruncated:
      return "truncated";
    case WireError::kBadLength:
      return "bad length";
    case WireError::kBadHeaderLen:
      return "bad header length";
    case WireError::kBadVersion:
      return "bad version";
    case WireError::kBadChecksum:
      return "bad checksum";
    case WireError::kBadOption:
      return "bad option";
    case WireError::kUnsupported:
      return "unsupported";
    case WireError::kMalformed:
      return "malformed";
  }
  return "?";
}

DropReason to_drop_reason(WireError e) {
  switch (e) {
    case WireError::kTruncated:
      return DropReason::kTruncated;
    case WireError::kBadLength:
      return DropReason::kBadLength;
    case WireError::kBadHeaderLen:
      return DropReason::kBadHeader;
    case WireError::kBadVersion:
      return DropReason::kBadVersion;
    case WireError::kBadChecksum:
      return DropReason::kBadChecksum;
    case WireError::kBadOption:
      return DropReason::kBadOption;
    case WireError::kUnsupported:
      return DropReason::kBadHeader;
    case WireError::kMalformed:
      return DropReason::kBadHeader;
  }
  return DropReason::kNotSpecified;
}

}  // namespace ustack::wire
