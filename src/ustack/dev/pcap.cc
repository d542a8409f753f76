// dev/pcap.cc — pcap files through libpcap (pcap_open_dead + pcap_dump_open to write,
// pcap_open_offline to read) and the PcapCapture device.
#include "ustack/dev/pcap.h"

#include <pcap/pcap.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace ustack::dev {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

// pcap's record header holds seconds and a sub-second count (micro- or nanoseconds, as the file
// header says). Instants before the clock's origin do not exist on a capture: clamp to 0.
timeval to_timeval(Instant ts, bool nanosecond) {
  const int64_t ns = ts.nanos() < 0 ? 0 : ts.nanos();
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ns / kNanosPerSecond);
  const int64_t frac = ns % kNanosPerSecond;
  tv.tv_usec = static_cast<suseconds_t>(nanosecond ? frac : frac / 1000);
  return tv;
}

}  // namespace

// ---- PcapWriter ------------------------------------------------------------------------------

Result<PcapWriter, PcapError> PcapWriter::open(const std::string& path, PcapWriterOptions opts) {
  pcap_t* p = pcap_open_dead_with_tstamp_precision(
      DLT_EN10MB, static_cast<int>(opts.snaplen),
      opts.nanosecond ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
  if (p == nullptr) return Err{PcapError{"pcap_open_dead failed"}};
  pcap_dumper_t* d = pcap_dump_open(p, path.c_str());
  if (d == nullptr) {
    PcapError e{std::string(pcap_geterr(p))};  // e.g. "x.pcap: No such file or directory"
    pcap_close(p);
    return Err{std::move(e)};
  }
  PcapWriter w;
  w.path_ = path;
  w.pcap_ = p;
  w.dumper_ = d;
  w.nanosecond_ = opts.nanosecond;
  w.snaplen_ = opts.snaplen;
  return w;
}

PcapWriter::PcapWriter(PcapWriter&& o) noexcept
    : path_(std::move(o.path_)),
      pcap_(std::exchange(o.pcap_, nullptr)),
      dumper_(std::exchange(o.dumper_, nullptr)),
      nanosecond_(o.nanosecond_),
      snaplen_(o.snaplen_),
      frames_(o.frames_) {}

PcapWriter& PcapWriter::operator=(PcapWriter&& o) noexcept {
  if (this != &o) {
    (void)close();
    path_ = std::move(o.path_);
    pcap_ = std::exchange(o.pcap_, nullptr);
    dumper_ = std::exchange(o.dumper_, nullptr);
    nanosecond_ = o.nanosecond_;
    snaplen_ = o.snaplen_;
    frames_ = o.frames_;
  }
  return *this;
}

PcapWriter::~PcapWriter() { (void)close(); }

Result<void, PcapError> PcapWriter::write(Instant ts, std::span<const uint8_t> frame) {
  if (dumper_ == nullptr) return Err{PcapError{path_ + ": pcap writer is closed"}};
  pcap_pkthdr h{};
  h.ts = to_timeval(ts, nanosecond_);
  h.len = static_cast<bpf_u_int32>(frame.size());
  h.caplen = static_cast<bpf_u_int32>(frame.size() < snaplen_ ? frame.size() : snaplen_);
  pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, frame.data());
  // pcap_dump reports nothing; the stdio stream remembers a failed write.
  if (std::ferror(pcap_dump_file(dumper_)) != 0) {
    return Err{PcapError{path_ + ": write failed"}};
  }
  ++frames_;
  return Ok();
}

Result<void, PcapError> PcapWriter::flush() {
  if (dumper_ == nullptr) return Err{PcapError{path_ + ": pcap writer is closed"}};
  if (pcap_dump_flush(dumper_) != 0) {
    return Err{PcapError{path_ + ": flush failed: " + std::strerror(errno)}};
  }
  return Ok();
}

Result<void, PcapError> PcapWriter::close() {
  if (dumper_ == nullptr) return Ok();
  const bool flushed = pcap_dump_flush(dumper_) == 0;
  const int err = errno;
  pcap_dump_close(dumper_);
  pcap_close(pcap_);
  dumper_ = nullptr;
  pcap_ = nullptr;
  if (!flushed) return Err{PcapError{path_ + ": flush failed: " + std::strerror(err)}};
  return Ok();
}

// ---- PcapReader ------------------------------------------------------------------------------

Result<PcapReader, PcapError> PcapReader::open(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // Ask libpcap for nanoseconds whatever the file holds: it scales microsecond files up.
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p == nullptr) return Err{PcapError{std::string(errbuf)}};
  PcapReader r;
  r.pcap_ = p;
  return r;
}

PcapReader::PcapReader(PcapReader&& o) noexcept : pcap_(std::exchange(o.pcap_, nullptr)) {}

PcapReader& PcapReader::operator=(PcapReader&& o) noexcept {
  if (this != &o) {
    if (pcap_ != nullptr) pcap_close(pcap_);
    pcap_ = std::exchange(o.pcap_, nullptr);
  }
  return *this;
}

PcapReader::~PcapReader() {
  if (pcap_ != nullptr) pcap_close(pcap_);
}

int PcapReader::linktype() const { return pcap_ != nullptr ? pcap_datalink(pcap_) : -1; }

Result<std::optional<PcapRecord>, PcapError> PcapReader::next() {
  if (pcap_ == nullptr) return Err{PcapError{"pcap reader is closed"}};
  pcap_pkthdr* h = nullptr;
  const u_char* bytes = nullptr;
  const int rc = pcap_next_ex(pcap_, &h, &bytes);
  if (rc == PCAP_ERROR_BREAK) return std::optional<PcapRecord>{};  // end of file
  if (rc != 1) return Err{PcapError{std::string(pcap_geterr(pcap_))}};
  PcapRecord rec;
  rec.ts = Instant::from_nanos(static_cast<int64_t>(h->ts.tv_sec) * kNanosPerSecond +
                               static_cast<int64_t>(h->ts.tv_usec));
  rec.orig_len = h->len;
  rec.data.assign(bytes, bytes + h->caplen);
  return std::optional<PcapRecord>{std::move(rec)};
}

Result<std::vector<PcapRecord>, PcapError> PcapReader::read_all() {
  std::vector<PcapRecord> out;
  for (;;) {
    auto r = next();
    if (!r) return Err{r.error()};
    if (!r->has_value()) return out;
    out.push_back(std::move(**r));
  }
}

// ---- PcapCapture -----------------------------------------------------------------------------

// Sees each frame the inner device hands up, records it, and passes it to the real sink as
// coming from the capture device (the one the stack polls).
class PcapCapture::RxTap final : public RxSink {
 public:
  RxTap(PcapCapture& cap, RxSink& sink) : cap_(cap), sink_(sink) {}
  void netif_receive(Instant now, NetDevice& /*inner*/, PacketPtr frame) override {
    cap_.record(cap_.rx_writer(), now, frame->data(), &cap_.cstats_.rx_frames);
    sink_.netif_receive(now, cap_, std::move(frame));
  }

 private:
  PcapCapture& cap_;
  RxSink& sink_;
};

PcapCapture::PcapCapture(std::unique_ptr<NetDevice> inner, PcapWriter writer)
    : DeviceWrapper(std::move(inner)), tx_(std::move(writer)) {}

PcapCapture::PcapCapture(std::unique_ptr<NetDevice> inner, PcapWriter tx, PcapWriter rx)
    : DeviceWrapper(std::move(inner)), tx_(std::move(tx)), rx_(std::move(rx)) {}

Result<std::unique_ptr<PcapCapture>, PcapError> PcapCapture::open(std::unique_ptr<NetDevice> inner,
                                                                  const std::string& path,
                                                                  const std::string& rx_path,
                                                                  PcapWriterOptions opts) {
  auto tx = PcapWriter::open(path, opts);
  if (!tx) return Err{tx.error()};
  if (rx_path.empty()) {
    return std::make_unique<PcapCapture>(std::move(inner), std::move(*tx));
  }
  auto rx = PcapWriter::open(rx_path, opts);
  if (!rx) return Err{rx.error()};
  return std::make_unique<PcapCapture>(std::move(inner), std::move(*tx), std::move(*rx));
}

void PcapCapture::record(PcapWriter& w, Instant now, std::span<const uint8_t> frame,
                         uint64_t* counter) {
  auto r = w.write(now, frame);
  if (!r) {
    ++cstats_.write_errors;
    if (!first_error_) first_error_ = r.error();
    return;
  }
  ++*counter;
}

XmitStatus PcapCapture::xmit(Instant now, PacketPtr frame) {
  record(tx_, now, frame->data(), &cstats_.tx_frames);
  return inner().xmit(now, std::move(frame));
}

int PcapCapture::poll(Instant now, int budget, RxSink& sink) {
  RxTap tap(*this, sink);
  return inner().poll(now, budget, tap);
}

Result<void, PcapError> PcapCapture::flush() {
  auto r = tx_.flush();
  if (rx_) {
    auto r2 = rx_->flush();
    if (r && !r2) return r2;
  }
  return r;
}

Result<void, PcapError> PcapCapture::close() {
  auto r = tx_.close();
  if (rx_) {
    auto r2 = rx_->close();
    if (r && !r2) return r2;
  }
  return r;
}

}  // namespace ustack::dev
