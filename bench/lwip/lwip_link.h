// bench/lwip/lwip_link.h — the links under bench_lwip's lwIP instances: a shared-memory frame
// ring (two lwIP processes wired together, one single-producer/single-consumer ring each way,
// no system call on the data path) and a TAP device. Each is an lwIP netif of our own whose
// receive path copies a frame into one PBUF_RAM pbuf: Debian's tapif uses PBUF_POOL buffers of
// 616 bytes labelled with the frame's length and overflows the heap on 1514-byte frames.
#pragma once

#include <lwip/netif.h>
#include <lwip/pbuf.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace lwip_bench {

inline constexpr int kEthFrameMax = 1514;  // MTU 1500 + Ethernet header (no FCS, no VLAN)

// One direction of the wire between two processes: lives in a MAP_SHARED mapping made before
// fork(). The producer owns head, the consumer owns tail; each caches the other's index so the
// shared cache lines move only when the cached view runs out.
struct FrameRing {
  static constexpr uint32_t kSlots = 4096;  // power of two
  static constexpr uint32_t kSlotBytes = 2048;
  struct Slot {
    uint32_t len;
    uint8_t data[kSlotBytes - sizeof(uint32_t)];
  };
  alignas(64) std::atomic<uint32_t> head{0};  // next slot the producer fills
  alignas(64) uint32_t tail_cache = 0;        // producer's view of tail
  alignas(64) std::atomic<uint32_t> tail{0};  // next slot the consumer reads
  alignas(64) uint32_t head_cache = 0;        // consumer's view of head
  alignas(64) Slot slots[kSlots];
};

// Counters a netif keeps (reported in the JSON's info).
struct LinkStats {
  uint64_t tx_frames = 0;
  uint64_t rx_frames = 0;
  uint64_t tx_drops = 0;  // ring full / write() refused: the frame is lost like on a wire
  uint64_t rx_drops = 0;  // pbuf allocation failed or lwIP refused the frame
};

// An lwIP netif on a pair of FrameRings. Call add() once in the tcpip thread, then poll() from
// the loop that drives lwIP there.
class RingNetif {
 public:
  RingNetif(FrameRing* tx, FrameRing* rx) : tx_(tx), rx_(rx) {}
  // Adds and brings up the netif with address ip/24 and this MAC's last byte.
  bool add(const ip4_addr_t& ip, uint8_t mac_last);
  // Feeds up to `budget` received frames into lwIP; returns how many.
  int poll(int budget);
  const LinkStats& stats() const { return stats_; }
  netif* nif() { return &netif_; }

 private:
  static err_t init(netif* nif);
  static err_t linkoutput(netif* nif, pbuf* p);
  netif netif_{};
  FrameRing* tx_;
  FrameRing* rx_;
  uint8_t mac_last_ = 0;
  LinkStats stats_;
};

// An lwIP netif on an existing TAP device (IFF_TAP | IFF_NO_PI, non-blocking): poll() reads
// frames until EAGAIN (or the budget), each straight into a PBUF_RAM pbuf; output is one write()
// per frame (a TAP without IFF_VNET_HDR takes one frame per call).
class TapNetif {
 public:
  ~TapNetif();
  // Opens the TAP named `name`; false with errno set on failure.
  bool open(const char* name);
  bool add(const ip4_addr_t& ip, const ip4_addr_t& mask);
  int poll(int budget);
  int fd() const { return fd_; }
  const LinkStats& stats() const { return stats_; }

 private:
  static err_t init(netif* nif);
  static err_t linkoutput(netif* nif, pbuf* p);
  netif netif_{};
  int fd_ = -1;
  pbuf* spare_ = nullptr;  // a receive buffer left over from the last EAGAIN
  LinkStats stats_;
};

}  // namespace lwip_bench
