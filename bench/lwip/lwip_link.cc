// bench/lwip/lwip_link.cc — the shared-memory ring netif and the TAP netif of bench_lwip (see
// lwip_link.h). Both run in lwIP's tcpip thread with the core lock held.
#include "lwip_link.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <lwip/etharp.h>
#include <lwip/ip4_addr.h>
#include <netif/ethernet.h>

#include <cerrno>
#include <cstring>

namespace lwip_bench {
namespace {

void set_ethernet_defaults(netif* nif) {
  nif->hwaddr_len = ETH_HWADDR_LEN;
  nif->mtu = 1500;
  nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
  nif->output = etharp_output;
}

// The frame as one contiguous block: lwIP builds single-pbuf frames (LWIP_NETIF_TX_SINGLE_PBUF
// in Debian's lwipopts.h), the copy is only a fallback.
const uint8_t* flatten(pbuf* p, uint8_t* scratch, size_t cap, size_t* len) {
  *len = p->tot_len;
  if (p->next == nullptr) return static_cast<const uint8_t*>(p->payload);
  if (p->tot_len > cap) return nullptr;
  pbuf_copy_partial(p, scratch, p->tot_len, 0);
  return scratch;
}

}  // namespace

// ---- RingNetif ----

bool RingNetif::add(const ip4_addr_t& ip, uint8_t mac_last) {
  mac_last_ = mac_last;
  ip4_addr_t mask;
  ip4_addr_t gw;
  IP4_ADDR(&mask, 255, 255, 255, 0);
  ip4_addr_set_zero(&gw);
  if (netif_add(&netif_, &ip, &mask, &gw, this, &RingNetif::init, netif_input) == nullptr)
    return false;
  netif_set_default(&netif_);
  netif_set_up(&netif_);
  return true;
}

err_t RingNetif::init(netif* nif) {
  auto* self = static_cast<RingNetif*>(nif->state);
  set_ethernet_defaults(nif);
  const uint8_t mac[ETH_HWADDR_LEN] = {0x02, 0x00, 0x00, 0x00, 0x00, self->mac_last_};
  std::memcpy(nif->hwaddr, mac, ETH_HWADDR_LEN);
  nif->name[0] = 'r';
  nif->name[1] = 'g';
  nif->linkoutput = &RingNetif::linkoutput;
  return ERR_OK;
}

err_t RingNetif::linkoutput(netif* nif, pbuf* p) {
  auto* self = static_cast<RingNetif*>(nif->state);
  FrameRing* r = self->tx_;
  const uint32_t head = r->head.load(std::memory_order_relaxed);
  if (head - r->tail_cache == FrameRing::kSlots) {
    r->tail_cache = r->tail.load(std::memory_order_acquire);
    if (head - r->tail_cache == FrameRing::kSlots || p->tot_len > sizeof(FrameRing::Slot::data)) {
      ++self->stats_.tx_drops;  // a full wire loses the frame; TCP recovers
      return ERR_OK;
    }
  }
  FrameRing::Slot& s = r->slots[head & (FrameRing::kSlots - 1)];
  s.len = pbuf_copy_partial(p, s.data, p->tot_len, 0);
  r->head.store(head + 1, std::memory_order_release);
  ++self->stats_.tx_frames;
  return ERR_OK;
}

int RingNetif::poll(int budget) {
  FrameRing* r = rx_;
  uint32_t tail = r->tail.load(std::memory_order_relaxed);
  int n = 0;
  while (n < budget) {
    if (tail == r->head_cache) {
      r->head_cache = r->head.load(std::memory_order_acquire);
      if (tail == r->head_cache) break;
    }
    const FrameRing::Slot& s = r->slots[tail & (FrameRing::kSlots - 1)];
    pbuf* p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(s.len), PBUF_RAM);
    if (p != nullptr) std::memcpy(p->payload, s.data, s.len);
    // The slot is free once copied: hand it back before lwIP runs (it may transmit).
    ++tail;
    r->tail.store(tail, std::memory_order_release);
    ++n;
    ++stats_.rx_frames;
    if (p == nullptr) {
      ++stats_.rx_drops;
    } else if (netif_.input(p, &netif_) != ERR_OK) {
      pbuf_free(p);
      ++stats_.rx_drops;
    }
  }
  return n;
}

// ---- TapNetif ----

TapNetif::~TapNetif() {
  if (spare_ != nullptr) pbuf_free(spare_);
  if (fd_ >= 0) ::close(fd_);
}

bool TapNetif::open(const char* name) {
  fd_ = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) return false;
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (::ioctl(fd_, TUNSETIFF, &ifr) != 0) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    errno = e;
    return false;
  }
  return true;
}

bool TapNetif::add(const ip4_addr_t& ip, const ip4_addr_t& mask) {
  ip4_addr_t gw;
  ip4_addr_set_zero(&gw);
  if (netif_add(&netif_, &ip, &mask, &gw, this, &TapNetif::init, netif_input) == nullptr)
    return false;
  netif_set_default(&netif_);
  netif_set_up(&netif_);
  return true;
}

err_t TapNetif::init(netif* nif) {
  set_ethernet_defaults(nif);
  const uint32_t pid = static_cast<uint32_t>(::getpid());
  const uint8_t mac[ETH_HWADDR_LEN] = {0x02,
                                       0x1b,
                                       0x6c,
                                       static_cast<uint8_t>(pid >> 16),
                                       static_cast<uint8_t>(pid >> 8),
                                       static_cast<uint8_t>(pid)};
  std::memcpy(nif->hwaddr, mac, ETH_HWADDR_LEN);
  nif->name[0] = 't';
  nif->name[1] = 'p';
  nif->linkoutput = &TapNetif::linkoutput;
  return ERR_OK;
}

err_t TapNetif::linkoutput(netif* nif, pbuf* p) {
  auto* self = static_cast<TapNetif*>(nif->state);
  uint8_t scratch[kEthFrameMax + 4];
  size_t len = 0;
  const uint8_t* frame = flatten(p, scratch, sizeof scratch, &len);
  if (frame == nullptr || ::write(self->fd_, frame, len) != static_cast<ssize_t>(len)) {
    ++self->stats_.tx_drops;
    return ERR_OK;
  }
  ++self->stats_.tx_frames;
  return ERR_OK;
}

int TapNetif::poll(int budget) {
  int n = 0;
  while (n < budget) {
    pbuf* p = spare_ != nullptr ? spare_ : pbuf_alloc(PBUF_RAW, kEthFrameMax + 4, PBUF_RAM);
    spare_ = nullptr;
    if (p == nullptr) {
      ++stats_.rx_drops;
      break;
    }
    const ssize_t got = ::read(fd_, p->payload, p->len);
    if (got <= 0) {
      spare_ = p;  // EAGAIN (or an error the next poll() reports again): keep the buffer
      break;
    }
    pbuf_realloc(p, static_cast<u16_t>(got));
    ++n;
    ++stats_.rx_frames;
    if (netif_.input(p, &netif_) != ERR_OK) {
      pbuf_free(p);
      ++stats_.rx_drops;
    }
  }
  return n;
}

}  // namespace lwip_bench
