// dev/tap.h — TapDevice: a NIC whose cable plugs into the Linux kernel through a TAP interface.
//
// Picture a crossover cable: one end is ustack's NIC (this object, MAC = cfg.mac), the other end
// is the kernel's network interface (tapN, with its own MAC, IP addresses, routes and
// counters). A frame we write() shows up as received on the kernel interface; a frame the
// kernel sends out of the interface is read() by us. The kernel interface can be moved into
// another network namespace (`ip link set tapN netns NS`) and the fd stays valid, so one
// process can sit between namespaces.
//
// Opened with IFF_TAP | IFF_NO_PI and without IFF_VNET_HDR: every read() returns exactly one
// whole Ethernet frame (no FCS), with checksums finished and no bigger than the interface MTU
// (no GSO/TSO super-frames), and every write() injects exactly one frame.
//
// Offload (TapOptions::offload): opened with IFF_VNET_HDR too, and TUNSETOFFLOAD(TUN_F_CSUM |
// TUN_F_TSO4) tells the kernel that we take partial checksums and TCPv4 super-frames. Every
// read() and write() then starts with a 10-byte virtio_net_hdr (dev/virtio_net.h) and moves a
// frame of up to 64 KiB: the kernel's TCP sends us one GSO frame where it would send ~45
// segments, and takes ours whole (its TCP receives them without segmenting: GRO for free). The
// device reports features() kNetifHwCsum | kNetifTso, so TCP builds TSO frames for routes
// through it with partial checksums (tcp_output.cc); frames for a plain device are segmented
// and checksummed in software before they reach it (link output, dev/gso.h). Received frames
// carry the header's state: NEEDS_CSUM -> CsumState::kPartial, DATA_VALID -> kUnnecessary (no
// checksum verification), GSO TCPV4 -> gso_size (one large segment up the stack). RX buffers
// are then 64 KiB blocks (rx_buf_len()). Like tcpdump on a TSO NIC, a PcapCapture around the
// device records the big frames (with their unfinished checksums).
//
// The medium is polled: the kernel never writes into our buffers, so the RX "DMA" happens in
// hw_rx() during the NAPI poll, reading straight into the posted RX descriptors' buffers (zero
// copy). TX writes each TX descriptor's frame from its buffer, also without a copy.
//
// Event-loop contract (what a runner does with a TapDevice):
//   1. While is_up() && irq_enabled(), wait for fd() to become readable (poll/epoll, POLLIN).
//      If tx_blocked(), also wait for POLLOUT (the kernel refused a write with EAGAIN).
//   2. When it fires, call interrupt(now): the interrupt is masked and NAPI is scheduled.
//   3. Run the NapiContext until it has no work; its poll reads the frames (hw_rx), hands
//      them up, and unmasks the interrupt once the ring is drained. Go back to 1.
//   While the interrupt is masked, do not wait on fd(): NAPI owns the device and will read
//   everything by polling (that is the point of NAPI: one wake-up per burst, not per frame).
//   If the kernel interface is deleted (ip link del, or its namespace is deleted), the fd
//   polls as POLLERR forever and every read/write fails with EBADFD: after one counted error
//   medium_gone() is true, and the runner should stop waiting on fd().
// The driver never reads a clock: `now` is what the runner passes in.
//
// Batching: a tun fd has no batching syscall. readv()/writev() on it move ONE frame (the iovec
// is scattered/gathered into a single frame), recvmmsg/sendmmsg need a socket, and the kernel's
// batched path (tun_sendmsg with TUN_MSG_PTR) is only for vhost-net. So this driver makes one
// read() per received frame plus one that returns EAGAIN per poll, and one write() per sent
// frame. (io_uring could submit many reads in one syscall; not used yet.) Measured on the
// 2-vCPU dev machine (noisy, shared): the driver runs at the speed of a bare read()/write()
// loop on the same fd: TX 0.84-1.0 Mfps of 1514-byte frames, RX 0.13-0.22 Mfps (RX is bound
// by the kernel's AF_PACKET sender sharing the two CPUs; 1.2-1.3 read() calls per frame).
//
// Carrier: like a real driver's ndo_open/ndo_stop, set_up() turns the kernel interface's
// carrier on/off (TUNSETCARRIER), so Linux shows NO-CARRIER and sends nothing while we are down.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ustack/base/result.h"
#include "ustack/dev/ring_device.h"

namespace ustack::dev {

// Why a TAP device could not be opened. Each value names the cause a user can act on.
enum class TapErrc : uint8_t {
  kNoTunDevice,       // the clone device (/dev/net/tun) does not exist: no tun module or /dev
  kPermissionDenied,  // not root and no CAP_NET_ADMIN (or /dev/net/tun not accessible)
  kInvalidName,       // interface name empty, too long (>= 16 bytes), or has '/', ':', spaces
  kNameBusy,          // the name is a non-TAP interface, or a TAP another process holds
  kNotTunDevice,      // the clone path is not a tun/tap character device (ioctl ENOTTY)
  kTooManyFiles,      // out of file descriptors (EMFILE / ENFILE)
  kSystem,            // anything else: see the errno
};
std::string_view tap_errc_name(TapErrc c);  // "PermissionDenied"

struct TapError {
  TapErrc code = TapErrc::kSystem;
  int sys_errno = 0;  // the errno of the failing call (0 if detected before any call)
  // "cannot open TAP 'utap0': permission denied: need root or CAP_NET_ADMIN (errno 1: ...)"
  std::string to_string() const;
  bool operator==(const TapError&) const = default;
};

struct TapOptions {
  bool offload = false;  // IFF_VNET_HDR + TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4)
};

// What the driver did at the syscall level (to measure syscalls per frame).
struct TapStats {
  uint64_t reads = 0;        // read() calls, successful or not
  uint64_t reads_empty = 0;  // ... that returned EAGAIN (the kernel had nothing more)
  uint64_t writes = 0;       // write() calls
  uint64_t writes_busy = 0;  // ... refused with EAGAIN/ENOBUFS (frame left in the TX ring)
  uint64_t rx_io_errors = 0;
  uint64_t tx_io_errors = 0;
  int last_errno = 0;  // the most recent unexpected errno (0 if none)
  // With offload: frames read/written as GSO super-frames, and their bytes (frame lengths);
  // frames with a partial checksum each way; received frames whose header was refused.
  uint64_t rx_gso_frames = 0;
  uint64_t rx_gso_bytes = 0;
  uint64_t tx_gso_frames = 0;
  uint64_t tx_gso_bytes = 0;
  uint64_t rx_csum_partial = 0;
  uint64_t tx_csum_partial = 0;
  uint64_t rx_vnet_errors = 0;
};
std::string format_tap_stats(std::string_view name, const TapStats& s);  // one line

class TapDevice final : public RingDevice {
 public:
  static constexpr const char* kCloneDevice = "/dev/net/tun";

  // Creates (or attaches to an existing persistent) TAP interface. `ifname` "" lets the kernel
  // pick "tapN"; a name with "%d" ("utap%d") gets the first free number. cfg.name is our
  // device's name inside ustack; cfg.mac is OUR MAC (the far end of the cable from Linux).
  // The fd is opened O_RDWR | O_NONBLOCK | O_CLOEXEC. `clone_device` exists for tests.
  static Result<std::unique_ptr<TapDevice>, TapError> open(DeviceConfig cfg, BufferPool& pool,
                                                           std::string ifname = "",
                                                           std::string clone_device = kCloneDevice,
                                                           TapOptions opts = {});

  // Wraps a descriptor that already speaks the TAP protocol (one frame per read and write):
  // a TAP fd received from a privileged helper over SCM_RIGHTS, or, in tests, one end of a
  // SOCK_SEQPACKET socketpair. Takes ownership; makes it non-blocking. With opts.offload the fd
  // must already speak the vnet-header protocol (no ioctl is made).
  static std::unique_ptr<TapDevice> adopt(DeviceConfig cfg, BufferPool& pool, int fd,
                                          std::string kernel_ifname, TapOptions opts = {});

  ~TapDevice() override;  // closes the fd: a non-persistent TAP interface disappears

  // The kernel's name for the interface ("tap0", "utap3"), as it was when opened.
  const std::string& kernel_ifname() const { return kernel_ifname_; }
  // The kernel interface's MAC as it was when opened (read before the interface could move to
  // another namespace); nullopt for adopted fds. `ip link set address` later is not seen.
  std::optional<wire::MacAddr> kernel_mac() const { return kernel_mac_; }

  int fd() const override { return fd_; }
  // The kernel refused a write with EAGAIN: frames wait in the TX ring; wait for POLLOUT.
  bool tx_blocked() const { return tx_blocked_; }
  // The kernel interface no longer exists (a read or write returned EBADFD).
  bool medium_gone() const { return gone_; }
  void set_up(bool up) override;
  const TapStats& tap_stats() const { return tap_stats_; }
  bool offload() const { return vnet_; }
  uint32_t features() const override { return vnet_ ? kNetifHwCsum | kNetifTso : 0; }

 protected:
  void hw_tx(Instant now) override;
  void hw_rx(Instant now) override;
  size_t rx_buf_len() const override {
    return vnet_ ? max_frame_len(kGsoMaxSize) : RingDevice::rx_buf_len();
  }

 private:
  TapDevice(DeviceConfig cfg, BufferPool& pool, int fd, std::string kernel_ifname, bool is_tap);
  void set_carrier(bool on);

  int fd_;
  std::string kernel_ifname_;
  std::optional<wire::MacAddr> kernel_mac_;
  bool is_tap_;        // false for adopted fds that are not TAP (no TAP ioctls)
  bool vnet_ = false;  // every read/write starts with a virtio_net_hdr
  bool tx_blocked_ = false;
  bool gone_ = false;
  TapStats tap_stats_;
};

}  // namespace ustack::dev
