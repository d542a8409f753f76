// wire/describe.h — one-line, tcpdump-style summaries of frames for journeys and logs.
//
//   02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ARP, Request who-has 10.0.0.2 tell 10.0.0.1
//   02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4 10.0.0.1.5000 > 10.0.0.2.53: UDP, length 5
//   ... IPv4 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1, win 64240, options [mss 1460], length
//   0
// A frame that does not parse says where and why: "..., IPv4 [bad checksum]". Never throws,
// never reads out of bounds (it only goes through the Views), so it is safe on any bytes.
#pragma once

#include <span>
#include <string>

namespace ustack::wire {

std::string describe_frame(std::span<const uint8_t> frame);
// The same without the Ethernet part, for an IPv4 datagram.
std::string describe_ipv4(std::span<const uint8_t> datagram);

}  // namespace ustack::wire
