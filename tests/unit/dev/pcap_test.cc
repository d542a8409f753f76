// PcapWriter / PcapReader / PcapCapture: frames through a captured SimNic in virtual time are
// read back with their bytes, order, timestamps and direction; runs are byte-identical; every
// file written passes tshark_clean.
#include "ustack/dev/pcap.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "sim_pair.h"
#include "tools/pcap_check.h"
#include "tools/scratch_dir.h"
#include "tools/test_frames.h"

namespace ustack::dev {
namespace {

using simtest::SimPair;
using testtools::tshark_clean;

std::vector<uint8_t> udp(uint16_t id, size_t payload_len, bool from_a = true) {
  testtools::FrameSpec s;
  s.ip_id = id;
  if (!from_a) {
    std::swap(s.src_mac, s.dst_mac);
    std::swap(s.src_ip, s.dst_ip);
    std::swap(s.src_port, s.dst_port);
  }
  std::vector<uint8_t> payload(payload_len);
  for (size_t i = 0; i < payload_len; ++i) payload[i] = static_cast<uint8_t>(id + i);
  return testtools::udp4_frame(s, payload);
}

// What a 60-byte-minimum wire delivers for a shorter frame.
std::vector<uint8_t> padded(std::vector<uint8_t> f) {
  if (f.size() < 60) f.resize(60, 0);
  return f;
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<PcapRecord> read_back(const std::string& path) {
  auto r = PcapReader::open(path);
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
  if (!r) return {};
  EXPECT_EQ(r->linktype(), DLT_EN10MB);
  auto all = r->read_all();
  EXPECT_TRUE(all.ok());
  return all ? std::move(*all) : std::vector<PcapRecord>{};
}

class PcapTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(dir_.ok()); }

  // a is captured; a sends three frames, b answers two. Returns the capture device.
  PcapCapture* run_exchange(SimPair& net) {
    auto* cap = dynamic_cast<PcapCapture*>(&net.a());
    const Instant t0 = Instant::zero();
    net.a().xmit(t0, net.make(udp(1, 100)));
    net.a().xmit(t0, net.make(udp(2, 12)));  // short: padded on the wire
    net.run_until(t0 + Duration::us(500));
    net.b().xmit(net.now(), net.make(udp(3, 200, false)));
    net.run_until(t0 + Duration::ms(1));
    net.a().xmit(net.now(), net.make(udp(4, 1472)));  // a full 1514-byte frame
    net.b().xmit(net.now(), net.make(udp(5, 1, false)));
    net.run_until(t0 + Duration::ms(2));
    return cap;
  }
  SimPair::Wrap capture_to(const std::string& path, const std::string& rx_path = {},
                           PcapWriterOptions opts = {}) {
    return [=](std::unique_ptr<NetDevice> inner) -> std::unique_ptr<NetDevice> {
      auto cap = PcapCapture::open(std::move(inner), path, rx_path, opts);
      EXPECT_TRUE(cap.ok()) << (cap ? "" : cap.error().message);
      return cap ? std::move(*cap) : nullptr;
    };
  }

  testtools::ScratchDir dir_;
};

TEST_F(PcapTest, CaptureRecordsBothDirectionsInOrderWithVirtualTimestamps) {
  const std::string path = dir_.file("a0.pcap");
  {
    SimPair net({.latency = Duration::us(10)}, capture_to(path));
    PcapCapture* cap = run_exchange(net);
    ASSERT_NE(cap, nullptr);
    EXPECT_EQ(cap->capture_stats().tx_frames, 3u);
    EXPECT_EQ(cap->capture_stats().rx_frames, 2u);
    EXPECT_EQ(cap->capture_stats().write_errors, 0u);
    EXPECT_EQ(net.rx_b().frames.size(), 3u) << "capture changes nothing on the path";
    ASSERT_EQ(net.rx_a().frames.size(), 2u);
    EXPECT_EQ(net.rx_a().devs[0], cap) << "the stack sees frames coming from the device it polls";
    ASSERT_TRUE(cap->flush().ok());
  }  // the capture closes its file with the device
  const std::vector<PcapRecord> recs = read_back(path);
  ASSERT_EQ(recs.size(), 5u);
  const Instant t0 = Instant::zero();
  // TX is recorded at xmit() (before the qdisc, unpadded); RX when NAPI hands it up (padded).
  EXPECT_EQ(recs[0].data, udp(1, 100));
  EXPECT_EQ(recs[0].ts, t0);
  EXPECT_EQ(recs[1].data, udp(2, 12));
  EXPECT_EQ(recs[1].ts, t0);
  EXPECT_EQ(recs[2].data, udp(3, 200, false));
  EXPECT_EQ(recs[2].ts, t0 + Duration::us(510)) << "sent at 500us, 10us on the wire";
  EXPECT_EQ(recs[3].data, udp(4, 1472));
  EXPECT_EQ(recs[3].data.size(), 1514u);
  EXPECT_EQ(recs[3].ts, t0 + Duration::ms(1));
  EXPECT_EQ(recs[4].data, padded(udp(5, 1, false)));
  EXPECT_EQ(recs[4].ts, t0 + Duration::ms(1) + Duration::us(10));
  for (const PcapRecord& r : recs) EXPECT_EQ(r.orig_len, r.data.size());
  EXPECT_TRUE(tshark_clean(path));
}

TEST_F(PcapTest, TwoFilesSplitTheDirections) {
  const std::string tx = dir_.file("tx.pcap");
  const std::string rx = dir_.file("rx.pcap");
  {
    SimPair net({.latency = Duration::us(10)}, capture_to(tx, rx));
    run_exchange(net);
  }
  const std::vector<PcapRecord> t = read_back(tx);
  const std::vector<PcapRecord> r = read_back(rx);
  ASSERT_EQ(t.size(), 3u);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(t[1].data, udp(2, 12));
  EXPECT_EQ(r[0].data, udp(3, 200, false));
  EXPECT_TRUE(tshark_clean(tx));
  EXPECT_TRUE(tshark_clean(rx));
}

TEST_F(PcapTest, IdenticalRunsWriteByteIdenticalFiles) {
  const std::string p1 = dir_.file("run1.pcap");
  const std::string p2 = dir_.file("run2.pcap");
  for (const std::string& p : {p1, p2}) {
    SimPair net({.latency = Duration::us(7), .bits_per_second = 100'000'000}, capture_to(p));
    run_exchange(net);
  }
  const std::vector<uint8_t> b1 = file_bytes(p1);
  EXPECT_GT(b1.size(), 24u + 5 * 16);
  EXPECT_EQ(b1, file_bytes(p2));
  EXPECT_TRUE(tshark_clean(p1));
}

TEST_F(PcapTest, NanosecondTimestampsKeepVirtualTimeExact) {
  // 100 Mbit/s: a 1514-byte frame takes (1514 + 24) * 80ns = 123.04us to serialize.
  const std::string path = dir_.file("ns.pcap");
  {
    SimPair net({.latency = Duration::ns(1), .bits_per_second = 100'000'000}, {},
                capture_to(path, {}, {.nanosecond = true}));
    net.a().xmit(Instant::zero(), net.make(udp(1, 1472)));
    net.run_until(Instant::zero() + Duration::ms(1));
  }
  const std::vector<PcapRecord> recs = read_back(path);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].ts, Instant::zero() + Duration::ns(123'041));
  EXPECT_TRUE(tshark_clean(path));
}

TEST_F(PcapTest, MicrosecondFilesTruncateToTheMicrosecond) {
  const std::string path = dir_.file("us.pcap");
  {
    auto w = PcapWriter::open(path);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->write(Instant::from_nanos(3'000'123'999), udp(1, 10)).ok());
    EXPECT_EQ(w->frames(), 1u);
  }
  const std::vector<PcapRecord> recs = read_back(path);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].ts, Instant::from_nanos(3'000'123'000));
  EXPECT_TRUE(tshark_clean(path));
}

TEST_F(PcapTest, SnaplenTruncatesButKeepsTheWireLength) {
  const std::string path = dir_.file("snap.pcap");
  {
    auto w = PcapWriter::open(path, {.snaplen = 64});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->write(Instant::zero(), udp(1, 500)).ok());
    ASSERT_TRUE(w->close().ok());
    EXPECT_FALSE(w->is_open());
    EXPECT_FALSE(w->write(Instant::zero(), udp(2, 10)).ok()) << "closed";
    EXPECT_TRUE(w->close().ok()) << "idempotent";
  }
  const std::vector<PcapRecord> recs = read_back(path);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].data.size(), 64u);
  EXPECT_EQ(recs[0].orig_len, udp(1, 500).size());
  // tshark reports a snaplen-cut frame as "[Packet size limited during capture]", not malformed.
  EXPECT_TRUE(tshark_clean(path));
}

TEST_F(PcapTest, BadPathIsAnErrorValueWithLibpcapsMessage) {
  const std::string bad = dir_.file("no/such/dir/x.pcap");
  auto w = PcapWriter::open(bad);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.error().message.find("No such file or directory"), std::string::npos)
      << w.error().message;
  EXPECT_NE(w.error().message.find("x.pcap"), std::string::npos) << w.error().message;

  PoolHandle pool = BufferPool::create();
  auto nic = std::make_unique<SimNic>(simtest::nic_config("c0", 3), *pool);
  auto cap = PcapCapture::open(std::move(nic), bad);
  EXPECT_FALSE(cap.ok());
  auto cap2 = PcapCapture::open(std::make_unique<SimNic>(simtest::nic_config("c1", 4), *pool),
                                dir_.file("ok.pcap"), bad);
  EXPECT_FALSE(cap2.ok()) << "a bad RX path fails too";

  auto rd = PcapReader::open(dir_.file("missing.pcap"));
  ASSERT_FALSE(rd.ok());
  EXPECT_NE(rd.error().message.find("No such file"), std::string::npos) << rd.error().message;
  EXPECT_TRUE(tshark_clean(dir_.file("ok.pcap"))) << "the good file of cap2 is a valid empty pcap";
}

TEST_F(PcapTest, WriteErrorsAreCountedAndTheDataPathGoesOn) {
  const std::string path = dir_.file("closed.pcap");
  SimPair net({.latency = Duration::us(10)}, capture_to(path));
  auto* cap = dynamic_cast<PcapCapture*>(&net.a());
  ASSERT_NE(cap, nullptr);
  ASSERT_TRUE(cap->close().ok());
  EXPECT_EQ(net.a().xmit(Instant::zero(), net.make(udp(1, 20))), XmitStatus::kQueued);
  net.run_until(Instant::zero() + Duration::ms(1));
  EXPECT_EQ(net.rx_b().frames.size(), 1u);
  EXPECT_EQ(cap->capture_stats().write_errors, 1u);
  ASSERT_TRUE(cap->first_error().has_value());
  EXPECT_NE(cap->first_error()->message.find("closed"), std::string::npos);
  EXPECT_TRUE(tshark_clean(path));
}

}  // namespace
}  // namespace ustack::dev
