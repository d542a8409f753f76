// TapDevice without a Linux peer: open() error mapping, and the data path driven through an
// adopted SOCK_DGRAM socketpair (one frame per read/write, EAGAIN when full: what a tun fd
// does), so RX/TX, short/long frames, I/O errors and a busy medium are tested without root.
// The few cases that need root (EBUSY on a held TAP) skip otherwise; the interop tests in
// tests/interop/tap_test.cc prove the driver against a real kernel interface.
#include "ustack/dev/tap.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <vector>

#include "ustack/buf/pool.h"
#include "ustack/dev/napi.h"

namespace ustack::dev {
namespace {

struct Collect : RxSink {
  std::vector<std::vector<uint8_t>> frames;
  void netif_receive(Instant, NetDevice&, PacketPtr f) override {
    frames.emplace_back(f->data().begin(), f->data().end());
  }
};

DeviceConfig cfg(uint32_t rx = 16, uint32_t tx = 16) {
  DeviceConfig c;
  c.name = "tap0";
  c.mac = wire::MacAddr{{0x02, 0, 0, 0, 0, 0x42}};
  c.rx_ring_size = rx;
  c.tx_ring_size = tx;
  return c;
}

std::vector<uint8_t> frame(uint8_t tag, size_t len = 64) {
  std::vector<uint8_t> f(len, tag);
  for (int i = 0; i < 6; ++i) f[i] = 0xff;
  f[12] = 0x88;  // local experimental EtherType 0x88b5
  f[13] = 0xb5;
  return f;
}

bool is_root() { return ::geteuid() == 0; }
bool have_tun() { return ::access(TapDevice::kCloneDevice, F_OK) == 0; }

// ---- open(): error mapping ------------------------------------------------------------------

TEST(TapOpen, InvalidNamesAreRejectedBeforeAnySyscall) {
  PoolHandle pool = BufferPool::create();
  for (const char* name :
       {"name-longer-than15", "a/b", "a b", "a:b", ".", "..", "u%d%d", "tab\tname"}) {
    auto r = TapDevice::open(cfg(), *pool, name, "/nonexistent/clone");
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, TapErrc::kInvalidName) << name;
    EXPECT_EQ(r.error().sys_errno, EINVAL);
  }
}

TEST(TapOpen, MissingCloneDeviceIsNoTunDevice) {
  PoolHandle pool = BufferPool::create();
  auto r = TapDevice::open(cfg(), *pool, "utap%d", "/nonexistent/net/tun");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), (TapError{TapErrc::kNoTunDevice, ENOENT}));
  EXPECT_NE(r.error().to_string().find("/dev/net/tun"), std::string::npos) << r.error().to_string();
}

TEST(TapOpen, CloneDeviceThatIsNotTunIsRejected) {
  PoolHandle pool = BufferPool::create();
  auto r = TapDevice::open(cfg(), *pool, "utap%d", "/dev/null");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), (TapError{TapErrc::kNotTunDevice, ENOTTY}));
}

TEST(TapOpen, WithoutCapNetAdminPermissionIsDenied) {
  if (!have_tun()) GTEST_SKIP() << TapDevice::kCloneDevice << " missing";
  // In a child that drops root (if it has it): /dev/net/tun is 0600 (EACCES) or 0666 and
  // TUNSETIFF refuses to create an interface (EPERM): both are kPermissionDenied.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(100);
    PoolHandle pool = BufferPool::create();
    auto r = TapDevice::open(cfg(), *pool, "utap%d");
    ::_exit(r ? 101 : static_cast<int>(r.error().code));
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), static_cast<int>(TapErrc::kPermissionDenied));
  const std::string msg = TapError{TapErrc::kPermissionDenied, EPERM}.to_string();
  EXPECT_NE(msg.find("CAP_NET_ADMIN"), std::string::npos) << msg;
  EXPECT_NE(msg.find("errno 1"), std::string::npos) << msg;
}

TEST(TapOpen, NameOfANonTapInterfaceIsBusy) {
  if (!have_tun()) GTEST_SKIP() << TapDevice::kCloneDevice << " missing";
  PoolHandle pool = BufferPool::create();
  auto r = TapDevice::open(cfg(), *pool, "lo");  // exists in every namespace, not a TAP
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, is_root() ? TapErrc::kNameBusy : TapErrc::kPermissionDenied)
      << r.error().to_string();
}

TEST(TapOpen, TapHeldByAnotherFdIsBusy) {
  if (!is_root() || !have_tun()) GTEST_SKIP() << "needs root and /dev/net/tun";
  PoolHandle pool = BufferPool::create();
  auto first = TapDevice::open(cfg(), *pool, "utap%d");  // down, no address: sends nothing
  ASSERT_TRUE(first) << first.error().to_string();
  const std::string name = (*first)->kernel_ifname();
  EXPECT_EQ(name.rfind("utap", 0), 0u) << name;
  ASSERT_TRUE((*first)->kernel_mac().has_value());
  EXPECT_NE(*(*first)->kernel_mac(), cfg().mac) << "the kernel side has its own MAC";
  auto second = TapDevice::open(cfg(), *pool, name);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), (TapError{TapErrc::kNameBusy, EBUSY}));
}

// ---- the data path over an adopted socketpair ----------------------------------------------

class TapPairTest : public ::testing::Test {
 protected:
  // `sndbuf` > 0 shrinks our end's send buffer so that writes soon fail with EAGAIN.
  void open(DeviceConfig c = cfg(), int sndbuf = 0) {
    std::array<int, 2> sv{};
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv.data()), 0);
    if (sndbuf > 0) {
      ASSERT_EQ(::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
    }
    peer_ = sv[1];
    dev_ = TapDevice::adopt(std::move(c), *pool_, sv[0], "peer0");
    dev_->set_up(true);
    napi_.add(*dev_);
  }
  ~TapPairTest() override {
    if (dev_) napi_.remove(*dev_);
    if (peer_ >= 0) ::close(peer_);
  }
  void peer_send(const std::vector<uint8_t>& f) {
    ASSERT_EQ(::send(peer_, f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
  }
  std::vector<std::vector<uint8_t>> peer_drain() {
    std::vector<std::vector<uint8_t>> out;
    std::array<uint8_t, 4096> b{};
    ssize_t n;
    while ((n = ::recv(peer_, b.data(), b.size(), MSG_DONTWAIT)) >= 0) {
      out.emplace_back(b.begin(), b.begin() + n);
    }
    return out;
  }
  // What a runner does when the fd is readable (or writable) while the IRQ is enabled.
  void irq_and_napi() {
    if (dev_->irq_enabled()) dev_->interrupt(t_);
    while (napi_.run(t_, sink_)) {
    }
  }
  PacketPtr make(const std::vector<uint8_t>& f) { return pool_->alloc_copy(f, 32); }

  PoolHandle pool_ = BufferPool::create();
  std::unique_ptr<TapDevice> dev_;
  int peer_ = -1;
  NapiContext napi_;
  Collect sink_;
  Instant t_ = Instant::zero() + Duration::ms(1);
};

TEST_F(TapPairTest, AdoptedFdIsNonBlockingAndKeepsItsName) {
  open();
  EXPECT_NE(::fcntl(dev_->fd(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(dev_->kernel_ifname(), "peer0");
  EXPECT_FALSE(dev_->kernel_mac().has_value());
}

TEST_F(TapPairTest, ReceivesFramesZeroCopyIntoPostedDescriptors) {
  open();
  for (uint8_t i = 0; i < 3; ++i) peer_send(frame(i, 60 + i));
  irq_and_napi();
  ASSERT_EQ(sink_.frames.size(), 3u);
  for (uint8_t i = 0; i < 3; ++i) EXPECT_EQ(sink_.frames[i], frame(i, 60 + i));
  EXPECT_EQ(dev_->tap_stats().reads, 4u) << "three frames, then one EAGAIN";
  EXPECT_EQ(dev_->tap_stats().reads_empty, 1u);
  EXPECT_EQ(dev_->stats().rx_packets, 3u);
  EXPECT_EQ(dev_->stats().rx_bytes, 60u + 61 + 62);
  EXPECT_EQ(dev_->ring_stats().irq_raised, 1u);
  EXPECT_EQ(dev_->ring_stats().irq_reenabled, 1u);
  EXPECT_TRUE(dev_->irq_enabled());
  EXPECT_EQ(dev_->rx_ring().hw_count(), 16u) << "every descriptor re-armed";
}

TEST_F(TapPairTest, NeverReadsMoreFramesThanDescriptorsArePosted) {
  open(cfg(/*rx=*/4));
  for (uint8_t i = 0; i < 10; ++i) peer_send(frame(i));
  dev_->interrupt(t_);
  EXPECT_FALSE(napi_.run(t_, sink_)) << "4 < weight: the poll completes";
  EXPECT_EQ(sink_.frames.size(), 4u);
  EXPECT_EQ(dev_->tap_stats().reads, 4u) << "one read per posted descriptor, no more";
  EXPECT_TRUE(dev_->irq_enabled()) << "the fd is still readable: the runner interrupts again";
  irq_and_napi();
  irq_and_napi();
  ASSERT_EQ(sink_.frames.size(), 10u);
  for (uint8_t i = 0; i < 10; ++i) EXPECT_EQ(sink_.frames[i][20], i) << "in order";
  EXPECT_EQ(dev_->stats().rx_missed_errors, 0u) << "the kernel queue holds the rest, no loss";
}

TEST_F(TapPairTest, ShortAndEmptyFramesAreCountedDrops) {
  open();
  peer_send({});
  peer_send(std::vector<uint8_t>(13, 0xff));
  peer_send(frame(7, 14));  // a bare header is a frame
  irq_and_napi();
  ASSERT_EQ(sink_.frames.size(), 1u);
  EXPECT_EQ(sink_.frames[0], frame(7, 14));
  EXPECT_EQ(dev_->stats().rx_errors, 2u);
  EXPECT_EQ(dev_->stats().rx_length_errors, 2u);
  EXPECT_EQ(dev_->stats().rx_packets, 1u);
  EXPECT_EQ(dev_->rx_ring().hw_count(), 16u) << "a dropped frame's buffer stays posted";
}

TEST_F(TapPairTest, FrameLongerThanMtuIsCountedDrop) {
  Telemetry tel("host");
  open();
  dev_->attach(tel);
  peer_send(frame(1, max_frame_len(1500) + 1));
  peer_send(frame(2, max_frame_len(1500)));  // exactly the largest legal frame
  irq_and_napi();
  ASSERT_EQ(sink_.frames.size(), 1u);
  EXPECT_EQ(sink_.frames[0].size(), max_frame_len(1500));
  EXPECT_EQ(dev_->stats().rx_length_errors, 1u);
  EXPECT_EQ(tel.drops().get(DropReason::kFrameTooLong), 1u);
}

TEST_F(TapPairTest, ReadErrorIsCountedAndTracedOncePerPoll) {
  Telemetry tel("host");
  TraceLog log;
  tel.set_sink(&log);
  const int wronly = ::open("/dev/null", O_WRONLY | O_CLOEXEC);  // read() fails: EBADF
  ASSERT_GE(wronly, 0);
  auto dev = TapDevice::adopt(cfg(), *pool_, wronly, "null");
  dev->attach(tel);
  dev->set_up(true);
  napi_.add(*dev);
  dev->interrupt(t_);
  EXPECT_FALSE(napi_.run(t_, sink_));
  napi_.remove(*dev);
  EXPECT_EQ(dev->tap_stats().reads, 1u) << "a failing fd is not retried in a loop";
  EXPECT_EQ(dev->tap_stats().rx_io_errors, 1u);
  EXPECT_EQ(dev->tap_stats().last_errno, EBADF);
  EXPECT_EQ(dev->stats().rx_errors, 1u);
  EXPECT_EQ(tel.drops().get(DropReason::kDevIoError), 1u);
  bool traced = false;
  for (const TraceEvent& e : log.events()) traced |= e.reason == DropReason::kDevIoError;
  EXPECT_TRUE(traced);
}

TEST_F(TapPairTest, TransmitsEachFrameWithOneWriteAndCompletesThroughNapi) {
  open();
  for (uint8_t i = 0; i < 3; ++i) EXPECT_EQ(dev_->xmit(t_, make(frame(i))), XmitStatus::kQueued);
  const auto got = peer_drain();
  ASSERT_EQ(got.size(), 3u);
  for (uint8_t i = 0; i < 3; ++i) EXPECT_EQ(got[i], frame(i));
  EXPECT_EQ(dev_->tap_stats().writes, 3u);
  EXPECT_EQ(dev_->stats().tx_packets, 3u);
  EXPECT_EQ(dev_->stats().tx_bytes, 3u * 64);
  EXPECT_EQ(dev_->ring_stats().irq_raised, 1u) << "TX completion interrupt";
  EXPECT_EQ(dev_->ring_stats().tx_completions, 0u) << "reclaimed only by the NAPI poll";
  while (napi_.run(t_, sink_)) {
  }
  EXPECT_EQ(dev_->ring_stats().tx_completions, 3u);
  EXPECT_EQ(dev_->tx_ring().free_count(), 16u);
}

TEST_F(TapPairTest, BusyMediumKeepsFramesInTheRingAndRetries) {
  // A tiny send buffer (clamped to the kernel's minimum, ~4.6 KB) holds a few 1000-byte
  // datagrams; then write() says EAGAIN until the peer reads: the "kernel" is busy.
  open(cfg(), /*sndbuf=*/1);
  constexpr int kFrames = 60;
  for (int i = 0; i < kFrames; ++i) {
    EXPECT_EQ(dev_->xmit(t_, make(frame(static_cast<uint8_t>(i), 1000))), XmitStatus::kQueued);
  }
  EXPECT_TRUE(dev_->tx_blocked());
  EXPECT_GE(dev_->tap_stats().writes_busy, 1u);
  EXPECT_GE(dev_->ring_stats().tx_ring_full, 1u);
  EXPECT_LE(dev_->tap_stats().writes, 16u) << "no write() per xmit once the ring is full";
  EXPECT_GT(dev_->qdisc_len(), 0u) << "the qdisc holds what the stopped ring cannot";
  std::vector<std::vector<uint8_t>> got;
  for (int round = 0; round < 100 && got.size() < kFrames; ++round) {
    for (auto& f : peer_drain()) got.push_back(std::move(f));
    irq_and_napi();  // the fd became writable: reclaim, refill the ring, write again
  }
  ASSERT_EQ(got.size(), static_cast<size_t>(kFrames));
  for (int i = 0; i < kFrames; ++i) EXPECT_EQ(got[i][20], i) << "in order, none lost";
  EXPECT_EQ(dev_->stats().tx_packets, static_cast<uint64_t>(kFrames));
  EXPECT_EQ(dev_->stats().tx_dropped, 0u);
  EXPECT_EQ(dev_->stats().tx_errors, 0u);
  EXPECT_FALSE(dev_->tx_blocked());
}

TEST_F(TapPairTest, WriteErrorFinishesTheDescriptorAsFailed) {
  Telemetry tel("host");
  open();
  dev_->attach(tel);
  ::close(peer_);  // the other end is gone: write() fails (ECONNREFUSED)
  peer_ = -1;
  EXPECT_EQ(dev_->xmit(t_, make(frame(1))), XmitStatus::kQueued) << "accepted by the qdisc";
  EXPECT_EQ(dev_->stats().tx_errors, 1u);
  EXPECT_EQ(dev_->stats().tx_packets, 0u);
  EXPECT_EQ(dev_->tap_stats().tx_io_errors, 1u);
  EXPECT_NE(dev_->tap_stats().last_errno, 0);
  EXPECT_EQ(tel.drops().get(DropReason::kDevIoError), 1u);
  EXPECT_FALSE(dev_->tx_blocked());
  while (napi_.run(t_, sink_)) {
  }
  EXPECT_EQ(dev_->tx_ring().free_count(), 16u) << "the failed descriptor was reclaimed";
}

TEST_F(TapPairTest, DownDeviceReadsNothing) {
  open();
  dev_->set_up(false);
  peer_send(frame(1));
  dev_->interrupt(t_);
  while (napi_.run(t_, sink_)) {
  }
  EXPECT_TRUE(sink_.frames.empty());
  EXPECT_EQ(dev_->tap_stats().reads, 0u);
  dev_->set_up(true);  // the frame waited in the kernel's queue
  irq_and_napi();
  EXPECT_EQ(sink_.frames.size(), 1u);
}

}  // namespace
}  // namespace ustack::dev
