// dev/tap.cc — the Linux TAP driver: open/TUNSETIFF, the polled RX "DMA" and TX doorbell.
#include "ustack/dev/tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "ustack/dev/virtio_net.h"
#include "ustack/wire/ethernet.h"

namespace ustack::dev {
namespace {

// The kernel's dev_valid_name() plus dev_alloc_name()'s "at most one %d": checked here so a
// bad name is a clear kInvalidName, not an EINVAL that could mean anything.
bool valid_ifname(std::string_view name) {
  if (name.empty()) return true;  // the kernel picks "tapN"
  if (name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  if (std::count(name.begin(), name.end(), '%') > 1) return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) != 0;
  });
}

TapErrc classify_open_errno(int err) {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return TapErrc::kNoTunDevice;
    case EACCES:
    case EPERM:
      return TapErrc::kPermissionDenied;
    case EMFILE:
    case ENFILE:
      return TapErrc::kTooManyFiles;
    default:
      return TapErrc::kSystem;
  }
}

TapErrc classify_setiff_errno(int err, const std::string& ifname) {
  switch (err) {
    case EPERM:
    case EACCES:
      return TapErrc::kPermissionDenied;
    case EBUSY:  // a TAP by that name exists and another fd is attached to it
      return TapErrc::kNameBusy;
    case EINVAL:
      // tun_set_iff: the name exists but is not a TAP (e.g. "lo", or a TUN): EINVAL.
      if (!ifname.empty() && ifname.find('%') == std::string::npos &&
          if_nametoindex(ifname.c_str()) != 0) {
        return TapErrc::kNameBusy;
      }
      return TapErrc::kInvalidName;
    case ENOTTY:  // the clone path is some other file: the TUN ioctls do not exist there
      return TapErrc::kNotTunDevice;
    default:
      return TapErrc::kSystem;
  }
}

std::string_view errc_text(TapErrc c) {
  switch (c) {
    case TapErrc::kNoTunDevice:
      return "no TUN/TAP clone device (is the tun module loaded? /dev/net/tun present?)";
    case TapErrc::kPermissionDenied:
      return "permission denied: need root or CAP_NET_ADMIN";
    case TapErrc::kInvalidName:
      return "invalid interface name (1-15 bytes, no '/', ':' or spaces, at most one %d)";
    case TapErrc::kNameBusy:
      return "interface name in use (a non-TAP interface, or a TAP another process holds)";
    case TapErrc::kNotTunDevice:
      return "the clone device is not a TUN/TAP device";
    case TapErrc::kTooManyFiles:
      return "out of file descriptors";
    case TapErrc::kSystem:
      return "system error";
  }
  return "?";
}

}  // namespace

std::string_view tap_errc_name(TapErrc c) {
  switch (c) {
    case TapErrc::kNoTunDevice:
      return "NoTunDevice";
    case TapErrc::kPermissionDenied:
      return "PermissionDenied";
    case TapErrc::kInvalidName:
      return "InvalidName";
    case TapErrc::kNameBusy:
      return "NameBusy";
    case TapErrc::kNotTunDevice:
      return "NotTunDevice";
    case TapErrc::kTooManyFiles:
      return "TooManyFiles";
    case TapErrc::kSystem:
      return "System";
  }
  return "?";
}

std::string format_tap_stats(std::string_view name, const TapStats& s) {
  return fmt::format(
      "tap {} reads {} reads_empty {} writes {} writes_busy {} rx_io_errors {} tx_io_errors {} "
      "rx_gso_frames {} rx_gso_bytes {} tx_gso_frames {} tx_gso_bytes {} rx_csum_partial {} "
      "tx_csum_partial {} rx_vnet_errors {}",
      name, s.reads, s.reads_empty, s.writes, s.writes_busy, s.rx_io_errors, s.tx_io_errors,
      s.rx_gso_frames, s.rx_gso_bytes, s.tx_gso_frames, s.tx_gso_bytes, s.rx_csum_partial,
      s.tx_csum_partial, s.rx_vnet_errors);
}

std::string TapError::to_string() const {
  if (sys_errno == 0) return fmt::format("cannot open TAP: {}", errc_text(code));
  return fmt::format("cannot open TAP: {} (errno {}: {})", errc_text(code), sys_errno,
                     std::strerror(sys_errno));
}

Result<std::unique_ptr<TapDevice>, TapError> TapDevice::open(DeviceConfig cfg, BufferPool& pool,
                                                             std::string ifname,
                                                             std::string clone_device,
                                                             TapOptions opts) {
  if (!valid_ifname(ifname)) return Err{TapError{TapErrc::kInvalidName, EINVAL}};
  const int fd = ::open(clone_device.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Err{TapError{classify_open_errno(err), err}};
  }
  ifreq ifr{};
  // Without IFF_VNET_HDR: finished checksums, no GSO. With it: see TapOptions::offload.
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (opts.offload ? IFF_VNET_HDR : 0);
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());  // size < IFNAMSIZ: checked
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
    const int err = errno;
    ::close(fd);
    return Err{TapError{classify_setiff_errno(err, ifname), err}};
  }
  if (opts.offload) {
    // The 10-byte struct virtio_net_hdr, little-endian (TUNSETVNETLE; on a little-endian host
    // the legacy byte order is that already, so an old kernel without it is fine), and the
    // offloads we accept from the kernel: partial checksums and TCPv4 GSO frames.
    int sz = static_cast<int>(VirtioNetHdr::kLen);
    int le = 1;
    unsigned off = TUN_F_CSUM | TUN_F_TSO4;
    (void)::ioctl(fd, TUNSETVNETLE, &le);
    if (::ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0 || ::ioctl(fd, TUNSETOFFLOAD, off) < 0) {
      const int err = errno;
      ::close(fd);
      return Err{TapError{TapErrc::kSystem, err}};
    }
  }
  // TUNSETIFF wrote back the kernel's name ("tap0" for "", "utap3" for "utap%d").
  std::string kname(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  auto dev = std::unique_ptr<TapDevice>(
      new TapDevice(std::move(cfg), pool, fd, std::move(kname), /*is_tap=*/true));
  dev->vnet_ = opts.offload;
  // The kernel side's MAC, read now: SIOCGIFHWADDR on a tun fd looks the interface up by name
  // in the opener's namespace, which is wrong once the interface has moved to another one.
  ifreq hw{};
  if (::ioctl(fd, SIOCGIFHWADDR, &hw) == 0) {
    dev->kernel_mac_ = wire::MacAddr::from_bytes(
        std::span(reinterpret_cast<const uint8_t*>(hw.ifr_hwaddr.sa_data), 6));
  }
  dev->set_carrier(false);  // no carrier until our side is up (a NIC before ndo_open)
  return dev;
}

std::unique_ptr<TapDevice> TapDevice::adopt(DeviceConfig cfg, BufferPool& pool, int fd,
                                            std::string kernel_ifname, TapOptions opts) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) (void)::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ifreq ifr{};
  const bool is_tap = ::ioctl(fd, TUNGETIFF, &ifr) == 0;
  auto dev = std::unique_ptr<TapDevice>(
      new TapDevice(std::move(cfg), pool, fd, std::move(kernel_ifname), is_tap));
  dev->vnet_ = opts.offload;
  return dev;
}

TapDevice::TapDevice(DeviceConfig cfg, BufferPool& pool, int fd, std::string kernel_ifname,
                     bool is_tap)
    : RingDevice(std::move(cfg), pool),
      fd_(fd),
      kernel_ifname_(std::move(kernel_ifname)),
      is_tap_(is_tap) {}

TapDevice::~TapDevice() {
  if (fd_ >= 0) ::close(fd_);
}

void TapDevice::set_carrier(bool on) {
  if (!is_tap_) return;
  int v = on ? 1 : 0;
  // Best effort: kernels before 4.18 have no TUNSETCARRIER (the carrier then stays on).
  (void)::ioctl(fd_, TUNSETCARRIER, &v);
}

void TapDevice::set_up(bool up) {
  RingDevice::set_up(up);
  set_carrier(up);
  if (!up) tx_blocked_ = false;  // the TX ring was emptied
}

// The TX doorbell: write each hardware-owned descriptor's frame, in ring order.
void TapDevice::hw_tx(Instant now) {
  bool finished = false;
  tx_blocked_ = false;
  while (Descriptor* d = tx_ring_hw().hw_peek()) {
    const std::span<const uint8_t> f = d->buf->data();
    ++tap_stats_.writes;
    ssize_t n;
    size_t want = f.size();
    VirtioNetHdr vh;
    if (vnet_) {
      // The offload state goes in front (writev: the frame is not moved to make room).
      vh = vnet_hdr_from_skb(*d->buf);
      std::array<uint8_t, VirtioNetHdr::kLen> hb{};
      vh.emit(hb);
      std::array<iovec, 2> iov{iovec{hb.data(), hb.size()},
                               iovec{const_cast<uint8_t*>(f.data()), f.size()}};
      want += hb.size();
      n = ::writev(fd_, iov.data(), 2);
    } else {
      n = ::write(fd_, f.data(), f.size());
    }
    if (n == static_cast<ssize_t>(want)) {
      if (vh.gso_type != kVirtioNetHdrGsoNone) {
        ++tap_stats_.tx_gso_frames;
        tap_stats_.tx_gso_bytes += f.size();
      }
      if ((vh.flags & kVirtioNetHdrFNeedsCsum) != 0) ++tap_stats_.tx_csum_partial;
      tx_hw_finish(now, true);
      finished = true;
      continue;
    }
    const int err = n < 0 ? errno : EIO;  // a short write cannot happen on a TAP: call it EIO
    if (n < 0 && err == EINTR) continue;
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS)) {
      // The kernel is busy (its socket send buffer is full): like a NIC whose queue is
      // stopped, keep the frame in the ring; the next xmit or poll retries. The qdisc holds
      // what does not fit meanwhile.
      ++tap_stats_.writes_busy;
      tx_blocked_ = true;
      break;
    }
    // The frame is lost. EIO: the kernel interface is down, which from our end of the cable
    // is a link partner without carrier. EBADFD: the interface was deleted. EINVAL: the
    // kernel refused the frame (shorter than 14 bytes; xmit() never lets those through).
    ++tap_stats_.tx_io_errors;
    tap_stats_.last_errno = err;
    if (err == EBADFD) gone_ = true;
    tx_hw_finish(now, false, err == EIO ? DropReason::kNoCarrier : DropReason::kDevIoError);
    finished = true;
  }
  if (finished) raise_irq(now);  // TX completion interrupt: NAPI will reclaim the ring
}

// The RX "DMA": read frames straight into the posted RX buffers until the kernel has no more
// (EAGAIN) or every descriptor posted at entry has been tried once. Bounding the loop by the
// posted count (not by frames received) keeps a medium that keeps failing, or returning empty
// reads, from spinning here.
void TapDevice::hw_rx(Instant now) {
  const size_t max_len = rx_buf_len();
  for (uint32_t tries = rx_ring().hw_count(); tries > 0; --tries) {
    PacketBuffer* b = rx_hw_buffer();
    if (b == nullptr) return;  // down, or no descriptor posted
    // One byte more than the largest legal frame (if the buffer has it), so that a longer
    // frame is seen as too long whether the fd truncates (a socket) or reports the full
    // length (tun returns the frame's length even when it copied less).
    const size_t room = std::min(b->tailroom(), max_len + 1);
    auto dst = b->put(room);
    if (!dst) return;  // a zero-tailroom buffer cannot happen (posted at max_len)
    ++tap_stats_.reads;
    std::array<uint8_t, VirtioNetHdr::kLen> hb{};
    ssize_t n;
    if (vnet_) {
      std::array<iovec, 2> iov{iovec{hb.data(), hb.size()}, iovec{dst->data(), room}};
      n = ::readv(fd_, iov.data(), 2);
      if (n >= 0)
        n = n >= static_cast<ssize_t>(hb.size()) ? n - static_cast<ssize_t>(hb.size()) : 0;
    } else {
      n = ::read(fd_, dst->data(), room);
    }
    if (n < 0) {
      const int err = errno;
      (void)b->trim(0);  // the descriptor stays posted and empty
      if (err == EAGAIN || err == EWOULDBLOCK) {
        ++tap_stats_.reads_empty;
        return;
      }
      if (err == EINTR) continue;
      ++tap_stats_.rx_io_errors;
      tap_stats_.last_errno = err;
      if (err == EBADFD) gone_ = true;
      rx_hw_error(now, DropReason::kDevIoError, 0, err);
      return;  // an error now will be an error on the next read too: try again next poll
    }
    const size_t len = static_cast<size_t>(n);
    if (len < wire::kEthHeaderLen) {
      (void)b->trim(0);
      rx_hw_error(now, DropReason::kFrameTooShort, len);
      continue;
    }
    if (len > max_len || len > room) {
      (void)b->trim(0);
      rx_hw_error(now, DropReason::kFrameTooLong, len);
      continue;
    }
    if (vnet_) {
      (void)b->trim(len);
      const VirtioNetHdr vh = VirtioNetHdr::parse(hb);
      if (!vnet_hdr_to_skb(vh, *b)) {
        (void)b->trim(0);
        ++tap_stats_.rx_vnet_errors;
        rx_hw_error(now, DropReason::kBadOffload, len);
        continue;
      }
      if (b->is_gso()) {
        ++tap_stats_.rx_gso_frames;
        tap_stats_.rx_gso_bytes += len;
      }
      if (b->ip_summed == CsumState::kPartial) ++tap_stats_.rx_csum_partial;
    }
    rx_hw_commit(now, static_cast<uint32_t>(len));
  }
}

}  // namespace ustack::dev
