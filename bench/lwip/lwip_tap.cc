// bench/lwip/lwip_tap.cc — lwIP <-> Linux over a TAP device: `bench_lwip tap-rx` (lwIP listens,
// the kernel sends --bytes) and `bench_lwip tap-tx` (lwIP connects to the kernel's --peer and
// sends --bytes of zeros). One lwIP instance; the whole run is lwIP's tcpip thread: it reads
// frames until EAGAIN (up to 64 per pass), runs lwIP's timers and the workload, and sleeps in
// poll() on the TAP (until lwIP's next timer, at most 50 ms) only when nothing arrived.
#include "lwip_tap.h"

#include <arpa/inet.h>
#include <poll.h>

#include <lwip/tcp.h>
#include <lwip/timeouts.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "json_line.h"
#include "lwip_link.h"

namespace lwip_bench {
namespace {

constexpr int kRxBudget = 64;

class TapRun {
 public:
  explicit TapRun(const Options& opt) : opt_(opt), zeros_(kPatternRun, 0) {}

  bool run() {
    ip4_addr_t ip;
    ip4_addr_t mask;
    const size_t slash = opt_.addr.find('/');
    const std::string a = opt_.addr.substr(0, slash);
    const int prefix = slash == std::string::npos ? 24 : std::atoi(opt_.addr.c_str() + slash + 1);
    if (!ip4addr_aton(a.c_str(), &ip) || prefix < 1 || prefix > 30)
      return fail("bad --addr %s (want A.B.C.D/len)", opt_.addr.c_str());
    if (!opt_.peer.empty() && (!ipaddr_aton(opt_.peer.c_str(), &peer_) || !IP_IS_V4(&peer_)))
      return fail("bad --peer %s", opt_.peer.c_str());
    ip4_addr_set_u32(&mask, lwip_htonl(~0u << (32 - prefix)));
    if (!tap_.open(opt_.tap.c_str()))
      return fail("cannot open TAP %s: %s", opt_.tap.c_str(), std::strerror(errno));
    if (!tap_.add(ip, mask)) return fail("netif_add failed");
    const int64_t cpu0 = cpu_ns();
    const int64_t give_up = deadline_after(opt_.seconds + 20);
    bool ok = opt_.workload == "tap-rx" ? listen() : connect();
    while (ok && !done_ && !failed_) {
      const int n = tap_.poll(kRxBudget);
      sys_check_timeouts();
      if (sending_ && !shut_) pump();
      if (done_ || failed_) break;
      if (now_ns() > give_up) {
        fail("timed out after %.0f s: %llu bytes %s", opt_.seconds + 20,
             static_cast<unsigned long long>(opt_.workload == "tap-rx" ? rcvd_ : acked_),
             opt_.workload == "tap-rx" ? "received" : "acknowledged");
        break;
      }
      if (n == 0) {
        const u32_t sleep_ms = std::min<u32_t>(sys_timeouts_sleeptime(), 50);
        pollfd pfd{tap_.fd(), POLLIN, 0};
        ::poll(&pfd, 1, static_cast<int>(sleep_ms));
      }
    }
    cpu_s_ = static_cast<double>(cpu_ns() - cpu0) / 1e9;
    return !failed_ && done_;
  }

  void print_json() const {
    const bool rx = opt_.workload == "tap-rx";
    const uint64_t bytes = rx ? rcvd_ : acked_;
    const double secs = static_cast<double>(end_ns_ - start_ns_) / 1e9;
    JsonLine j;
    j.str("system", "lwip-tap").str("workload", opt_.workload);
    j.num("value", static_cast<double>(bytes) * 8.0 / static_cast<double>(end_ns_ - start_ns_));
    j.str("unit", "gbit_s");
    j.begin("info");
    j.num("bytes", static_cast<double>(bytes)).num("seconds", secs);
    j.num("mtu", 1500).num("mss", TCP_MSS).num("tcp_wnd", TCP_WND).num("tcp_snd_buf", TCP_SND_BUF);
    const LinkStats& s = tap_.stats();
    j.num("frames_rx", static_cast<double>(s.rx_frames));
    j.num("frames_tx", static_cast<double>(s.tx_frames));
    j.num("drops", static_cast<double>(s.rx_drops + s.tx_drops));
    j.num("cpu_s", cpu_s_);
    j.end();
    std::printf("%s\n", j.text().c_str());
  }

  const std::string& error() const { return error_; }

 private:
  bool fail(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (failed_) return false;
    failed_ = true;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    error_ = buf;
    return false;
  }

  // ---- tap-rx: count what the kernel sends, first byte to last
  bool listen() {
    tcp_pcb* pcb = tcp_new();
    if (pcb == nullptr) return fail("tcp_new failed");
    const err_t e = tcp_bind(pcb, IP4_ADDR_ANY, static_cast<u16_t>(opt_.port));
    if (e != ERR_OK) return fail("tcp_bind(%d): lwIP error %d", opt_.port, e);
    tcp_pcb* l = tcp_listen(pcb);
    if (l == nullptr) return fail("tcp_listen failed");
    tcp_arg(l, this);
    tcp_accept(l, &TapRun::on_accept);
    std::fprintf(stderr, "bench_lwip: listening on %s port %d\n", opt_.addr.c_str(), opt_.port);
    return true;
  }
  static err_t on_accept(void* arg, tcp_pcb* pcb, err_t err) {
    auto* self = static_cast<TapRun*>(arg);
    if (err != ERR_OK || pcb == nullptr) return ERR_VAL;
    tcp_arg(pcb, self);
    tcp_recv(pcb, &TapRun::on_rx_recv);
    tcp_err(pcb, &TapRun::on_err);
    return ERR_OK;
  }
  static err_t on_rx_recv(void* arg, tcp_pcb* pcb, pbuf* p, err_t) {
    auto* self = static_cast<TapRun*>(arg);
    if (p == nullptr) {  // the sender is done
      tcp_arg(pcb, nullptr);
      tcp_recv(pcb, nullptr);
      tcp_err(pcb, nullptr);
      tcp_close(pcb);
      if (self->rcvd_ == 0 || (self->bytes_given() && self->rcvd_ != self->opt_.bytes)) {
        self->fail("received %llu bytes, expected %llu",
                   static_cast<unsigned long long>(self->rcvd_),
                   static_cast<unsigned long long>(self->opt_.bytes));
      }
      self->done_ = true;
      return ERR_OK;
    }
    const int64_t now = now_ns();
    if (self->rcvd_ == 0) self->start_ns_ = now;
    self->end_ns_ = now;
    self->rcvd_ += p->tot_len;  // the kernel sends zeros: counted, not checked
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
  }
  static void on_err(void* arg, err_t err) {
    auto* self = static_cast<TapRun*>(arg);
    self->pcb_ = nullptr;
    self->fail("connection error %d (%s)", err, lwip_strerr(err));
  }
  bool bytes_given() const { return opt_.bytes_given; }

  // ---- tap-tx: send --bytes of zeros; done when the kernel has ACKed them all and closed
  bool connect() {
    pcb_ = tcp_new();
    if (pcb_ == nullptr) return fail("tcp_new failed");
    tcp_arg(pcb_, this);
    tcp_err(pcb_, &TapRun::on_err);
    tcp_sent(pcb_, &TapRun::on_tx_sent);
    tcp_recv(pcb_, &TapRun::on_tx_recv);
    const err_t e = tcp_connect(pcb_, &peer_, static_cast<u16_t>(opt_.port), &TapRun::on_connected);
    if (e != ERR_OK) return fail("tcp_connect: lwIP error %d", e);
    return true;
  }
  static err_t on_connected(void* arg, tcp_pcb*, err_t) {
    auto* self = static_cast<TapRun*>(arg);
    self->start_ns_ = now_ns();
    self->stop_sending_ns_ = self->start_ns_ + static_cast<int64_t>(self->opt_.seconds * 1e9);
    self->sending_ = true;
    self->pump();
    return ERR_OK;
  }
  static err_t on_tx_sent(void* arg, tcp_pcb*, u16_t len) {
    auto* self = static_cast<TapRun*>(arg);
    self->acked_ += len;
    if (!self->shut_) self->pump();
    return ERR_OK;
  }
  static err_t on_tx_recv(void* arg, tcp_pcb* pcb, pbuf* p, err_t) {
    auto* self = static_cast<TapRun*>(arg);
    if (p != nullptr) {
      tcp_recved(pcb, p->tot_len);
      pbuf_free(p);
      return ERR_OK;
    }
    // The kernel's FIN: it has read everything up to our FIN.
    self->end_ns_ = now_ns();
    tcp_arg(pcb, nullptr);
    tcp_recv(pcb, nullptr);
    tcp_err(pcb, nullptr);
    tcp_sent(pcb, nullptr);
    tcp_close(pcb);
    self->pcb_ = nullptr;
    if (self->acked_ != self->queued_)
      self->fail("the peer closed after %llu of %llu bytes",
                 static_cast<unsigned long long>(self->acked_),
                 static_cast<unsigned long long>(self->queued_));
    self->done_ = true;
    return ERR_OK;
  }
  void pump() {
    if (pcb_ == nullptr) return;
    const int64_t now = now_ns();
    while (queued_ < opt_.bytes && now < stop_sending_ns_) {
      const uint64_t n =
          std::min({uint64_t{tcp_sndbuf(pcb_)}, opt_.bytes - queued_, uint64_t{kPatternRun}});
      if (n == 0) break;
      const err_t e = tcp_write(pcb_, zeros_.data(), static_cast<u16_t>(n), TCP_WRITE_FLAG_COPY);
      if (e == ERR_MEM) break;
      if (e != ERR_OK) {
        fail("tcp_write: lwIP error %d", e);
        return;
      }
      queued_ += n;
    }
    if (queued_ >= opt_.bytes || now >= stop_sending_ns_) {
      shut_ = true;
      tcp_shutdown(pcb_, 0, 1);  // FIN after the data
    }
    tcp_output(pcb_);
  }

  const Options& opt_;
  std::vector<uint8_t> zeros_;
  TapNetif tap_;
  ip_addr_t peer_{};
  tcp_pcb* pcb_ = nullptr;
  bool sending_ = false;
  bool shut_ = false;
  bool done_ = false;
  bool failed_ = false;
  std::string error_;
  uint64_t rcvd_ = 0;
  uint64_t queued_ = 0;
  uint64_t acked_ = 0;
  int64_t start_ns_ = 0;
  int64_t end_ns_ = 0;
  int64_t stop_sending_ns_ = 0;
  double cpu_s_ = 0;
};

}  // namespace

int run_tap(const Options& opt) {
  int rc = 1;
  run_in_tcpip_thread([&] {
    TapRun run(opt);
    if (run.run()) {
      run.print_json();
      rc = 0;
    } else {
      std::fprintf(stderr, "bench_lwip %s: %s\n", opt.workload.c_str(), run.error().c_str());
    }
  });
  std::fflush(stdout);
  return rc;
}

}  // namespace lwip_bench
