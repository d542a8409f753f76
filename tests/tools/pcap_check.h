// tests/tools/pcap_check.h — tshark as a second opinion on the frames ustack writes.
//
// Any test that writes a pcap runs EXPECT_TRUE(tshark_clean(path)). Wireshark's dissectors are
// an implementation independent of ours, so a malformed header or a wrong checksum that our own
// parsers would accept (the same bug on both sides) still gets caught.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ustack::testtools {

// Runs tshark on `pcap_path` with IPv4, UDP and TCP checksum validation turned on (tshark leaves
// them off by default; ICMP is always checked) and fails, quoting tshark, if the file is not a
// readable pcap, or any frame is malformed, or has a bad IPv4/ICMP/UDP/TCP checksum, or carries
// an expert item of severity Error, or a Warning in the Checksum or Malformed groups. Warnings
// about the conversation itself (a TCP RST, a zero window, a retransmission) are not defects
// and do not fail. Fails with an explanation if tshark is not installed.
::testing::AssertionResult tshark_clean(const std::string& pcap_path);
// The same with extra tshark arguments. TCP tests that carry arbitrary bytes pass
// tcp_payload_as_data(ports): tshark's heuristic dissectors (Thrift, ...) otherwise claim
// random payloads and report "errors" in them that are no defect of ours.
::testing::AssertionResult tshark_clean(const std::string& pcap_path,
                                        const std::vector<std::string>& extra_args);
// "-d tcp.port==P,data" for each port: the payload on those ports is plain data.
std::vector<std::string> tcp_payload_as_data(const std::vector<uint16_t>& ports);

// True if a tshark binary can be run (for tests that want to say why they skip).
bool tshark_available();

}  // namespace ustack::testtools
