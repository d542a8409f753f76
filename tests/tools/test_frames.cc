// tests/tools/test_frames.cc — hand-built IPv4/UDP/ICMP frames (see test_frames.h).
#include "tools/test_frames.h"

#include <algorithm>

#include "ustack/base/byteorder.h"
#include "ustack/base/checksum.h"

namespace ustack::testtools {
namespace {

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoUdp = 17;

// Ethernet and IPv4 headers for an L4 message of l4_len bytes; returns the frame with room for
// the L4 bytes at kL4Offset.
std::vector<uint8_t> eth_ipv4(const FrameSpec& s, uint8_t proto, size_t l4_len) {
  std::vector<uint8_t> f(kL4Offset + l4_len, 0);
  uint8_t* p = f.data();
  std::copy(s.dst_mac.begin(), s.dst_mac.end(), p);
  std::copy(s.src_mac.begin(), s.src_mac.end(), p + 6);
  store_be16(p + 12, 0x0800);
  uint8_t* ip = p + kEthLen;
  ip[0] = 0x45;  // version 4, IHL 5 words
  ip[1] = 0;     // DSCP/ECN
  store_be16(ip + 2, static_cast<uint16_t>(20 + l4_len));
  store_be16(ip + 4, s.ip_id);
  store_be16(ip + 6, 0);  // flags, fragment offset
  ip[8] = s.ttl;
  ip[9] = proto;
  store_be32(ip + 12, s.src_ip);
  store_be32(ip + 16, s.dst_ip);
  store_be16(ip + 10, inet_checksum({ip, 20}));
  return f;
}

}  // namespace

std::vector<uint8_t> udp4_frame(const FrameSpec& s, std::span<const uint8_t> payload) {
  const size_t udp_len = 8 + payload.size();
  std::vector<uint8_t> f = eth_ipv4(s, kProtoUdp, udp_len);
  uint8_t* u = f.data() + kL4Offset;
  store_be16(u, s.src_port);
  store_be16(u + 2, s.dst_port);
  store_be16(u + 4, static_cast<uint16_t>(udp_len));
  std::copy(payload.begin(), payload.end(), u + 8);
  const uint16_t pseudo =
      pseudo_header_sum_v4(s.src_ip, s.dst_ip, kProtoUdp, static_cast<uint16_t>(udp_len));
  uint16_t sum = csum_finish(csum_partial({u, udp_len}, pseudo));
  if (sum == 0) sum = 0xffff;  // RFC 768: 0 means "no checksum", so a computed 0 is sent as ~0
  store_be16(u + 6, sum);
  return f;
}

std::vector<uint8_t> icmp4_echo_frame(const FrameSpec& s, uint16_t id, uint16_t seq,
                                      std::span<const uint8_t> payload) {
  const size_t len = 8 + payload.size();
  std::vector<uint8_t> f = eth_ipv4(s, kProtoIcmp, len);
  uint8_t* m = f.data() + kL4Offset;
  m[0] = 8;  // echo request
  m[1] = 0;
  store_be16(m + 4, id);
  store_be16(m + 6, seq);
  std::copy(payload.begin(), payload.end(), m + 8);
  store_be16(m + 2, inet_checksum({m, len}));
  return f;
}

}  // namespace ustack::testtools
