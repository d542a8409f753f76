// dev/pcap.h — pcap files: PcapWriter/PcapReader (through libpcap) and PcapCapture, a device
// that records what passes through it (smoltcp's PcapWriter phy, gVisor's link/sniffer).
//
// Timestamps come from the `now` the caller passes, never from a clock: under the simulator's
// virtual time two runs with the same seed write byte-identical files.
//
// Where PcapCapture sees frames, compared with tcpdump on Linux:
//   TX  Linux's taps see a frame in dev_hard_start_xmit (dev_queue_xmit_nit), i.e. after the
//       qdisc, right before the driver. PcapCapture sees it when xmit() is called, i.e. before
//       the inner device's qdisc: a frame the qdisc then drops (txqueuelen exceeded, device
//       down) is in our file but would not be in tcpdump's. Wrapped around a FaultInjector it
//       records what the stack sent; wrapped by one, what went to the wire.
//   RX  Linux's taps see a frame in __netif_receive_skb_core, when NAPI hands it up; so does
//       PcapCapture (when the inner device delivers it in poll()), stamped with that poll's
//       `now` as Linux's software RX timestamp is. Frames lost in the ring (rx_missed) are in
//       neither.
// Link type is always Ethernet (DLT_EN10MB); frames are written as they are, without the FCS.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ustack/base/result.h"
#include "ustack/dev/device_wrapper.h"

// libpcap's handles, kept out of our headers.
struct pcap;
struct pcap_dumper;

namespace ustack::dev {

// An error from libpcap or the file system, with libpcap's message.
struct PcapError {
  std::string message;
};

struct PcapWriterOptions {
  uint32_t snaplen = 65535;  // longer frames are truncated in the file (caplen < len)
  bool nanosecond = false;   // nanosecond timestamps (magic 0xa1b23c4d); default microseconds
};

class PcapWriter {
 public:
  // Create (truncate) `path` and write the pcap file header.
  static Result<PcapWriter, PcapError> open(const std::string& path, PcapWriterOptions opts = {});
  PcapWriter(PcapWriter&&) noexcept;
  PcapWriter& operator=(PcapWriter&&) noexcept;
  ~PcapWriter();

  // One record stamped `ts` (virtual or monotonic time since its origin).
  Result<void, PcapError> write(Instant ts, std::span<const uint8_t> frame);
  Result<void, PcapError> flush();
  // Flush and close; later writes fail. Idempotent. The destructor closes too (errors lost).
  Result<void, PcapError> close();

  bool is_open() const { return dumper_ != nullptr; }
  const std::string& path() const { return path_; }
  uint64_t frames() const { return frames_; }

 private:
  PcapWriter() = default;
  std::string path_;
  pcap* pcap_ = nullptr;
  pcap_dumper* dumper_ = nullptr;
  bool nanosecond_ = false;
  uint32_t snaplen_ = 0;
  uint64_t frames_ = 0;
};

// One record read back from a file.
struct PcapRecord {
  Instant ts;
  uint32_t orig_len = 0;      // length on the wire
  std::vector<uint8_t> data;  // the captured bytes (caplen)
};

class PcapReader {
 public:
  static Result<PcapReader, PcapError> open(const std::string& path);
  PcapReader(PcapReader&&) noexcept;
  PcapReader& operator=(PcapReader&&) noexcept;
  ~PcapReader();

  // The next record, or nullopt at the end of the file.
  Result<std::optional<PcapRecord>, PcapError> next();
  // Every remaining record.
  Result<std::vector<PcapRecord>, PcapError> read_all();
  int linktype() const;  // DLT_EN10MB (1) for our files

 private:
  PcapReader() = default;
  pcap* pcap_ = nullptr;
};

struct PcapCaptureStats {
  uint64_t rx_frames = 0;
  uint64_t tx_frames = 0;
  uint64_t write_errors = 0;  // records lost to file errors (the data path goes on)
};

// Records every frame given to xmit() and every frame the inner device delivers in poll(), in
// one file, or TX and RX in two. It never changes, drops or delays a frame.
class PcapCapture final : public DeviceWrapper {
 public:
  // Both directions into `writer`.
  PcapCapture(std::unique_ptr<NetDevice> inner, PcapWriter writer);
  // TX frames into `tx`, RX frames into `rx`.
  PcapCapture(std::unique_ptr<NetDevice> inner, PcapWriter tx, PcapWriter rx);

  // Convenience: open the file(s) and wrap; an empty rx_path means one file for both. On error
  // the inner device is destroyed: open the writers first (PcapWriter::open) and use a
  // constructor if the device must survive a bad path.
  static Result<std::unique_ptr<PcapCapture>, PcapError> open(std::unique_ptr<NetDevice> inner,
                                                              const std::string& path,
                                                              const std::string& rx_path = {},
                                                              PcapWriterOptions opts = {});

  XmitStatus xmit(Instant now, PacketPtr frame) override;
  int poll(Instant now, int budget, RxSink& sink) override;

  Result<void, PcapError> flush();
  Result<void, PcapError> close();
  const PcapCaptureStats& capture_stats() const { return cstats_; }
  // The first write error's message, if any (later ones are only counted).
  const std::optional<PcapError>& first_error() const { return first_error_; }

 private:
  class RxTap;
  void record(PcapWriter& w, Instant now, std::span<const uint8_t> frame, uint64_t* counter);
  PcapWriter& rx_writer() { return rx_ ? *rx_ : tx_; }

  PcapWriter tx_;
  std::optional<PcapWriter> rx_;
  PcapCaptureStats cstats_;
  std::optional<PcapError> first_error_;
};

}  // namespace ustack::dev
