// tests/tools/pcap_check: tshark_clean passes good captures and catches malformed frames and
// bad IPv4/UDP/ICMP checksums (proves the checker that every pcap-writing test relies on).
#include "tools/pcap_check.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "tools/scratch_dir.h"
#include "tools/test_frames.h"
#include "ustack/dev/pcap.h"

namespace ustack::dev {
namespace {

using testtools::FrameSpec;
using testtools::tshark_clean;

const std::vector<uint8_t> kPayload = {'u', 's', 't', 'a', 'c', 'k', ' ', 'p', 'c', 'a', 'p', '!'};

class PcapCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    if (!testtools::tshark_available()) GTEST_SKIP() << "tshark not installed";
  }
  // A capture holding `frames`, one per millisecond.
  std::string write(const std::string& name, const std::vector<std::vector<uint8_t>>& frames) {
    const std::string path = dir_.file(name);
    auto w = PcapWriter::open(path);
    EXPECT_TRUE(w.ok());
    if (!w) return path;
    Instant t = Instant::zero();
    for (const auto& f : frames) {
      EXPECT_TRUE(w->write(t, f).ok());
      t += Duration::ms(1);
    }
    EXPECT_TRUE(w->close().ok());
    return path;
  }
  testtools::ScratchDir dir_;
};

TEST_F(PcapCheckTest, GoodFramesPass) {
  FrameSpec s;
  std::vector<std::vector<uint8_t>> frames;
  frames.push_back(testtools::udp4_frame(s, kPayload));
  frames.push_back(testtools::icmp4_echo_frame(s, 0x1234, 1, kPayload));
  s.ip_id = 2;
  frames.push_back(testtools::udp4_frame(s, {}));  // empty payload: 42 bytes, no padding
  const std::string path = write("good.pcap", frames);
  const ::testing::AssertionResult r = tshark_clean(path);
  EXPECT_TRUE(r);
  EXPECT_NE(std::string(r.message()).find("3 clean frames"), std::string::npos) << r.message();
}

TEST_F(PcapCheckTest, EmptyCapturePasses) { EXPECT_TRUE(tshark_clean(write("empty.pcap", {}))); }

TEST_F(PcapCheckTest, TruncatedFrameFails) {
  std::vector<uint8_t> f = testtools::udp4_frame(FrameSpec{}, kPayload);
  f.resize(testtools::kL4Offset + 4);  // IPv4 total length promises 20 more bytes
  const ::testing::AssertionResult r = tshark_clean(write("truncated.pcap", {f}));
  EXPECT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("malformed"), std::string::npos) << r.message();
}

TEST_F(PcapCheckTest, WrongIpv4HeaderChecksumFails) {
  std::vector<uint8_t> good = testtools::udp4_frame(FrameSpec{}, kPayload);
  std::vector<uint8_t> bad = good;
  bad[testtools::kIpv4ChecksumOffset] ^= 0x01;
  const ::testing::AssertionResult r = tshark_clean(write("bad_ip.pcap", {good, bad, good}));
  EXPECT_FALSE(r);
  const std::string m = r.message();
  EXPECT_NE(m.find("IPv4 checksum bad"), std::string::npos) << m;
  EXPECT_NE(m.find("frame 2 "), std::string::npos) << "names the frame: " << m;
  EXPECT_NE(m.find("1 of 3 frames"), std::string::npos) << m;
}

TEST_F(PcapCheckTest, WrongUdpChecksumFails) {
  std::vector<uint8_t> f = testtools::udp4_frame(FrameSpec{}, kPayload);
  f[testtools::kUdpChecksumOffset + 1] ^= 0x40;
  const ::testing::AssertionResult r = tshark_clean(write("bad_udp.pcap", {f}));
  EXPECT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("UDP checksum bad"), std::string::npos) << r.message();
}

TEST_F(PcapCheckTest, WrongIcmpChecksumFails) {
  std::vector<uint8_t> f = testtools::icmp4_echo_frame(FrameSpec{}, 7, 7, kPayload);
  f[testtools::kL4Offset + 2] ^= 0x80;
  const ::testing::AssertionResult r = tshark_clean(write("bad_icmp.pcap", {f}));
  EXPECT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("ICMP checksum bad"), std::string::npos) << r.message();
}

TEST_F(PcapCheckTest, PayloadBitFlipIsCaughtByTheUdpChecksum) {
  // What a FaultInjector corruption looks like on the wire: one bit anywhere in the datagram.
  std::vector<uint8_t> f = testtools::udp4_frame(FrameSpec{}, kPayload);
  f.back() ^= 0x04;
  EXPECT_FALSE(tshark_clean(write("flip.pcap", {f})));
}

TEST_F(PcapCheckTest, NotACaptureOrMissingFileFails) {
  const std::string junk = dir_.file("junk.pcap");
  std::ofstream(junk) << "garbage, not a capture file";
  const ::testing::AssertionResult r = tshark_clean(junk);
  EXPECT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("not a pcap"), std::string::npos) << r.message();
  EXPECT_FALSE(tshark_clean(dir_.file("does-not-exist.pcap")));
}

TEST_F(PcapCheckTest, CaptureCutShortFails) {
  std::vector<uint8_t> f = testtools::udp4_frame(FrameSpec{}, kPayload);
  const std::string path = write("cut.pcap", {f, f});
  std::vector<char> bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes.resize(bytes.size() - 10);  // the last record ends early: a half-written file
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
  const ::testing::AssertionResult r = tshark_clean(path);
  EXPECT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("cut short"), std::string::npos) << r.message();
}

}  // namespace
}  // namespace ustack::dev
