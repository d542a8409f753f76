// bench/lwip/lwip_pair.cc — the pair workloads (bulk, rr, crr, idle) on lwIP's raw TCP API. Each
// process runs everything in lwIP's tcpip thread: one loop polls the ring netif (up to 64 frames
// per pass, each copied into a PBUF_RAM pbuf and handed to ethernet_input), runs lwIP's timers
// (sys_check_timeouts) and the workload's step, and spins when the ring is empty (adding a
// sched_yield() per pass after ~2000 empty passes, for oversubscribed machines). No message
// passing, no lock hand-off, no system call on the data path: lwIP at its best on this link.
#include "lwip_pair.h"

#include <sched.h>

#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>
#include <lwip/timeouts.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <vector>

namespace lwip_bench {
namespace {

constexpr int kRxBudget = 64;
constexpr int kSpinPolls = 2000;    // empty polls before the loop starts to sched_yield()
constexpr int kIdleInFlight = 256;  // idle: handshakes in flight at once
constexpr int kIdlePortsPerServerPort = 60000;  // idle: client ports 1024.. per server port

inline void cpu_relax() { __builtin_ia32_pause(); }

ip4_addr_t side_ip(int side) {
  ip4_addr_t a;
  IP4_ADDR(&a, 10, 0, 0, static_cast<u8_t>(side + 1));
  return a;
}

// One side: the link, the shared block and the failure path.
class Side {
 public:
  Side(const Options& opt, PairShared* sh, int side)
      : opt_(opt),
        sh_(sh),
        side_(side),
        link_(side == kClient ? &sh->to_server : &sh->to_client,
              side == kClient ? &sh->to_client : &sh->to_server) {}
  virtual ~Side() = default;

  // Adds the netif and runs setup() then step() until it returns false; false on failure.
  bool run() {
    if (!link_.add(side_ip(side_), static_cast<uint8_t>(side_ + 1))) return fail("netif_add");
    const int64_t cpu0 = cpu_ns();
    const int64_t give_up = deadline_after(time_budget(opt_));
    bool ok = setup();
    int idle_polls = 0;
    uint32_t iterations = 0;
    while (ok) {
      const int n = link_.poll(kRxBudget);
      sys_check_timeouts();
      if (failed_) break;
      if (sh_->failed.load(std::memory_order_relaxed)) break;
      if (!step()) break;
      if ((++iterations & 15) == 0 && now_ns() > give_up) {
        fail("timed out after %.0f s (%s)", time_budget(opt_), progress().c_str());
        break;
      }
      if (n > 0) {
        idle_polls = 0;
        continue;
      }
      // Spin while the peer is busy (it runs on the other core); after ~100 us of nothing,
      // yield as well, so that on an oversubscribed machine the peer gets the CPU sooner.
      if (++idle_polls < kSpinPolls) {
        cpu_relax();
        continue;
      }
      ::sched_yield();
    }
    SideReport& r = sh_->side[side_];
    r.cpu_ns = cpu_ns() - cpu0;
    r.link = link_.stats();
    return !failed_;
  }

  bool fail(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (failed_) return false;
    failed_ = true;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(sh_->side[side_].error, sizeof sh_->side[side_].error, fmt, ap);
    va_end(ap);
    sh_->failed.store(1);
    return false;
  }

 protected:
  virtual bool setup() = 0;
  virtual bool step() = 0;  // false: this side is done
  virtual std::string progress() { return "no progress report"; }
  bool stopped() const { return sh_->stop.load(std::memory_order_relaxed) != 0; }

  const Options& opt_;
  PairShared* sh_;
  int side_;
  RingNetif link_;
  bool failed_ = false;
};

// ---------------------------------------------------------------- server

class Server final : public Side {
 public:
  using Side::Side;

 private:
  struct Conn {
    Server* srv;
    uint64_t pending = 0;  // rr/crr: request bytes not yet answered
  };

  bool setup() override {
    const int ports = opt_.workload == "idle"
                          ? (opt_.count + kIdlePortsPerServerPort - 1) / kIdlePortsPerServerPort
                          : 1;
    for (int i = 0; i < ports; ++i) {
      tcp_pcb* pcb = tcp_new();
      if (pcb == nullptr) return fail("tcp_new failed");
      const err_t e = tcp_bind(pcb, IP4_ADDR_ANY, static_cast<u16_t>(opt_.port + i));
      if (e != ERR_OK) return fail("tcp_bind(%d): lwIP error %d", opt_.port + i, e);
      tcp_pcb* l = tcp_listen_with_backlog(pcb, 255);
      if (l == nullptr) return fail("tcp_listen failed");
      tcp_arg(l, this);
      tcp_accept(l, &Server::on_accept);
    }
    response_.assign(static_cast<size_t>(opt_.size), 0x5a);
    heap0_ = heap_in_use();
    sh_->server_ready.store(1);
    return true;
  }

  bool step() override {
    if (opt_.workload == "idle" && !measured_ && sh_->measure.load()) {
      measured_ = true;
      sh_->side[side_].heap_growth = heap_in_use() - heap0_;
      sh_->measured.fetch_add(1);
    }
    return !stopped();
  }

  std::string progress() override {
    return "server: accepted " + std::to_string(accepted_) + ", received " + std::to_string(rcvd_) +
           " bytes";
  }

  static err_t on_accept(void* arg, tcp_pcb* pcb, err_t err) {
    auto* self = static_cast<Server*>(arg);
    if (err != ERR_OK || pcb == nullptr) return ERR_VAL;
    ++self->accepted_;
    self->sh_->accepted.store(self->accepted_, std::memory_order_relaxed);
    if (self->opt_.workload == "idle") return ERR_OK;  // lwIP's tcp_recv_null handles the rest
    tcp_nagle_disable(pcb);
    if (self->opt_.workload == "bulk") {
      tcp_arg(pcb, self);
      tcp_recv(pcb, &Server::on_bulk_recv);
      tcp_err(pcb, &Server::on_bulk_err);
      return ERR_OK;
    }
    auto* c = new Conn{self};
    tcp_arg(pcb, c);
    tcp_recv(pcb, &Server::on_rr_recv);
    tcp_err(pcb, &Server::on_rr_err);
    return ERR_OK;
  }

  // bulk: check every byte against the pattern; the FIN ends the measurement.
  static err_t on_bulk_recv(void* arg, tcp_pcb* pcb, pbuf* p, err_t) {
    auto* self = static_cast<Server*>(arg);
    if (p == nullptr) {
      self->finish_bulk(pcb);
      return ERR_OK;
    }
    const int64_t now = now_ns();
    if (self->rcvd_ == 0) self->first_ns_ = now;
    self->last_ns_ = now;
    for (pbuf* q = p; q != nullptr; q = q->next) {
      const uint8_t* want = pattern() + self->rcvd_ % kPatternPeriod;
      if (std::memcmp(q->payload, want, q->len) != 0) {
        self->fail("bulk: received data differs from the pattern near byte %llu",
                   static_cast<unsigned long long>(self->rcvd_));
        break;
      }
      self->rcvd_ += q->len;
    }
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
  }
  static void on_bulk_err(void* arg, err_t err) {
    static_cast<Server*>(arg)->fail("bulk: server connection error %d", err);
  }
  void finish_bulk(tcp_pcb* pcb) {
    tcp_arg(pcb, nullptr);
    tcp_recv(pcb, nullptr);
    tcp_err(pcb, nullptr);
    tcp_close(pcb);
    PairResult& r = sh_->result;
    r.bytes = rcvd_;
    r.elapsed_s = static_cast<double>(last_ns_ - first_ns_) / 1e9;
    if (rcvd_ == 0 || last_ns_ <= first_ns_) {
      fail("bulk: the server received %llu bytes", static_cast<unsigned long long>(rcvd_));
      return;
    }
    r.value = static_cast<double>(rcvd_) * 8.0 / static_cast<double>(last_ns_ - first_ns_);
    sh_->stop.store(1);
  }

  // rr, crr: answer every complete request with one response of the same size.
  static err_t on_rr_recv(void* arg, tcp_pcb* pcb, pbuf* p, err_t) {
    auto* c = static_cast<Conn*>(arg);
    Server* self = c->srv;
    if (p == nullptr) {  // the client closed (crr): close our half and forget the connection
      tcp_arg(pcb, nullptr);
      tcp_recv(pcb, nullptr);
      tcp_err(pcb, nullptr);
      delete c;
      if (tcp_close(pcb) == ERR_OK) return ERR_OK;
      tcp_abort(pcb);
      return ERR_ABRT;
    }
    c->pending += p->tot_len;
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    const auto size = static_cast<uint64_t>(self->opt_.size);
    bool wrote = false;
    while (c->pending >= size) {
      const err_t e =
          tcp_write(pcb, self->response_.data(), static_cast<u16_t>(size), TCP_WRITE_FLAG_COPY);
      if (e != ERR_OK) {
        self->fail("rr: server tcp_write: lwIP error %d", e);
        break;
      }
      c->pending -= size;
      wrote = true;
    }
    if (wrote) tcp_output(pcb);
    return ERR_OK;
  }
  static void on_rr_err(void* arg, err_t err) {
    auto* c = static_cast<Conn*>(arg);
    if (!c->srv->stopped()) c->srv->fail("server connection error %d", err);
    delete c;
  }

  std::vector<uint8_t> response_;
  int64_t heap0_ = 0;
  bool measured_ = false;
  int64_t accepted_ = 0;
  uint64_t rcvd_ = 0;
  int64_t first_ns_ = 0;
  int64_t last_ns_ = 0;
};

// ---------------------------------------------------------------- client

class Client final : public Side {
 public:
  using Side::Side;

 private:
  struct Conn {
    Client* cli;
    tcp_pcb* pcb = nullptr;
    uint64_t got = 0;  // response bytes of the current request
    int64_t sent_ns = 0;
    bool connected = false;
  };

  bool setup() override {
    request_.assign(static_cast<size_t>(opt_.size), 0xa5);
    // Wait until the server listens (the ring is quiet until then).
    const int64_t give_up = deadline_after(10);
    while (!sh_->server_ready.load()) {
      if (sh_->failed.load()) return false;
      if (now_ns() > give_up) return fail("the server process did not start listening");
      cpu_relax();
    }
    IP_ADDR4(&server_ip_, 10, 0, 0, kServer + 1);
    const std::string& w = opt_.workload;
    if (w == "bulk") return open_bulk();
    conns_.resize(static_cast<size_t>(w == "idle" ? 0 : opt_.conns));
    if (w == "rr") {
      lat_ns_.reserve(1 << 20);
      for (Conn& c : conns_)
        if (!open(&c)) return false;
      return true;
    }
    if (w == "crr") {
      start_ns_ = now_ns();
      end_ns_ = start_ns_ + static_cast<int64_t>(opt_.seconds * 1e9);
      for (Conn& c : conns_)
        if (!open(&c)) return false;
      return true;
    }
    heap0_ = heap_in_use();  // idle: nothing of ours is allocated per connection
    return true;
  }

  std::string progress() override {
    return "client: connected " + std::to_string(connected_) + ", completed " +
           std::to_string(completed_) + ", server accepted " + std::to_string(sh_->accepted.load());
  }

  bool step() override {
    const std::string& w = opt_.workload;
    if (w == "bulk") {
      if (bulk_ != nullptr && !shut_) pump();
      return !stopped();
    }
    if (w == "idle") return step_idle();
    const int64_t now = now_ns();
    if (w == "rr" && start_ns_ == 0) {
      if (connected_ < opt_.conns) return true;
      start_ns_ = now;
      end_ns_ = now + static_cast<int64_t>(opt_.seconds * 1e9);
      for (Conn& c : conns_) send_request(&c, now);
      return true;
    }
    if (now < end_ns_) return true;
    finish(now);
    return false;
  }

  // ---- bulk: one connection, the sender side
  bool open_bulk() {
    bulk_ = tcp_new();
    if (bulk_ == nullptr) return fail("tcp_new failed");
    tcp_arg(bulk_, this);
    tcp_err(bulk_, &Client::on_bulk_err);
    tcp_sent(bulk_, &Client::on_bulk_sent);
    tcp_recv(bulk_, &Client::on_bulk_recv);
    const err_t e =
        tcp_connect(bulk_, &server_ip_, static_cast<u16_t>(opt_.port), &Client::on_bulk_connected);
    if (e != ERR_OK) return fail("tcp_connect: lwIP error %d", e);
    return true;
  }
  static err_t on_bulk_connected(void* arg, tcp_pcb*, err_t) {
    auto* self = static_cast<Client*>(arg);
    self->start_ns_ = now_ns();
    self->end_ns_ = self->start_ns_ + static_cast<int64_t>(self->opt_.seconds * 1e9);
    self->connected_ = 1;
    self->pump();
    return ERR_OK;
  }
  static err_t on_bulk_sent(void* arg, tcp_pcb*, u16_t) {
    auto* self = static_cast<Client*>(arg);
    if (!self->shut_) self->pump();
    return ERR_OK;
  }
  static err_t on_bulk_recv(void*, tcp_pcb* pcb, pbuf* p, err_t) {
    if (p != nullptr) {  // the server sends nothing; drop whatever comes
      tcp_recved(pcb, p->tot_len);
      pbuf_free(p);
    }
    return ERR_OK;
  }
  static void on_bulk_err(void* arg, err_t err) {
    auto* self = static_cast<Client*>(arg);
    self->bulk_ = nullptr;
    if (!self->stopped()) self->fail("bulk: client connection error %d", err);
  }
  // Queues as much of the stream as lwIP's send buffer takes (tcp_write copies, folding the
  // checksum into the copy), then sends the FIN once the time or the byte budget is used up.
  void pump() {
    if (connected_ == 0 || bulk_ == nullptr) return;
    const int64_t now = now_ns();
    while (sent_ < opt_.bytes && now < end_ns_) {
      const uint64_t room = tcp_sndbuf(bulk_);
      const uint64_t n = std::min({room, opt_.bytes - sent_, uint64_t{kPatternRun}});
      if (n == 0) break;
      const err_t e = tcp_write(bulk_, pattern() + sent_ % kPatternPeriod, static_cast<u16_t>(n),
                                TCP_WRITE_FLAG_COPY);
      if (e == ERR_MEM) break;  // the segment queue is full: wait for ACKs
      if (e != ERR_OK) {
        fail("bulk: tcp_write: lwIP error %d", e);
        return;
      }
      sent_ += n;
    }
    if (sent_ >= opt_.bytes || now >= end_ns_) {
      shut_ = true;
      tcp_shutdown(bulk_, 0, 1);  // FIN after the data; the server's FIN-read ends the run
    }
    tcp_output(bulk_);
  }

  // ---- rr and crr: connections with one request outstanding each
  bool open(Conn* c) {
    *c = Conn{this};
    c->pcb = tcp_new();
    if (c->pcb == nullptr) return fail("tcp_new failed");
    tcp_nagle_disable(c->pcb);
    tcp_arg(c->pcb, c);
    tcp_recv(c->pcb, &Client::on_rr_recv);
    tcp_err(c->pcb, &Client::on_rr_err);
    const err_t e =
        tcp_connect(c->pcb, &server_ip_, static_cast<u16_t>(opt_.port), &Client::on_rr_connected);
    if (e != ERR_OK) {
      tcp_abort(c->pcb);
      return fail("tcp_connect: lwIP error %d after %llu connections", e,
                  static_cast<unsigned long long>(completed_));
    }
    return true;
  }
  static err_t on_rr_connected(void* arg, tcp_pcb*, err_t) {
    auto* c = static_cast<Conn*>(arg);
    Client* self = c->cli;
    c->connected = true;
    ++self->connected_;
    if (self->opt_.workload == "crr") self->send_request(c, now_ns());
    return ERR_OK;
  }
  void send_request(Conn* c, int64_t now) {
    c->sent_ns = now;
    const err_t e =
        tcp_write(c->pcb, request_.data(), static_cast<u16_t>(opt_.size), TCP_WRITE_FLAG_COPY);
    if (e != ERR_OK) {
      fail("tcp_write: lwIP error %d", e);
      return;
    }
    tcp_output(c->pcb);
  }
  static err_t on_rr_recv(void* arg, tcp_pcb* pcb, pbuf* p, err_t) {
    auto* c = static_cast<Conn*>(arg);
    Client* self = c->cli;
    if (p == nullptr) {
      self->fail("the server closed a connection");
      return ERR_OK;
    }
    c->got += p->tot_len;
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    const auto size = static_cast<uint64_t>(self->opt_.size);
    if (c->got < size) return ERR_OK;
    const int64_t now = now_ns();
    c->got -= size;
    if (now >= self->end_ns_) return ERR_OK;  // past the end: not counted, not renewed
    ++self->completed_;
    if (self->opt_.workload == "rr") {
      self->lat_ns_.push_back(now - c->sent_ns);
      self->send_request(c, now);
      return ERR_OK;
    }
    // crr: close (we do the active close: TIME-WAIT lands here), then open the next one.
    tcp_arg(pcb, nullptr);
    tcp_recv(pcb, nullptr);
    tcp_err(pcb, nullptr);
    if (tcp_close(pcb) != ERR_OK) {
      self->fail("tcp_close failed");
      return ERR_OK;
    }
    self->retire_time_wait();
    self->open(c);
    return ERR_OK;
  }
  static void on_rr_err(void* arg, err_t err) {
    auto* c = static_cast<Conn*>(arg);
    c->pcb = nullptr;
    if (!c->cli->stopped()) c->cli->fail("client connection error %d", err);
  }

  // lwIP's TIME-WAIT lasts 2 * TCP_MSL = 120 s, fixed at compile time, and lwIP only cuts it
  // short when its pcb pool runs dry (tcp_kill_timewait); Debian's build mallocs pcbs, so the
  // list would grow without bound and exhaust the 16 384 ephemeral ports within seconds. Keep
  // the newest tw_cap..2*tw_cap TIME-WAIT pcbs; retire older ones the way tcp_slowtmr does
  // when TIME-WAIT expires (unlink from tcp_tw_pcbs, tcp_free).
  void retire_time_wait() {
    if (opt_.tw_cap < 0 || ++closes_since_trim_ < std::max(opt_.tw_cap, 1)) return;
    closes_since_trim_ = 0;
    tcp_pcb* keep = tcp_tw_pcbs;
    for (int i = 1; keep != nullptr && i < opt_.tw_cap; ++i) keep = keep->next;
    tcp_pcb* old = nullptr;
    if (opt_.tw_cap == 0) {
      old = tcp_tw_pcbs;
      tcp_tw_pcbs = nullptr;
    } else if (keep != nullptr) {
      old = keep->next;
      keep->next = nullptr;
    }
    while (old != nullptr) {
      tcp_pcb* next = old->next;
      tcp_free(old);
      ++sh_->side[side_].tw_retired;
      old = next;
    }
  }

  void finish(int64_t now) {
    PairResult& r = sh_->result;
    r.elapsed_s = static_cast<double>(now - start_ns_) / 1e9;
    r.completed = completed_;
    if (completed_ == 0) {
      fail("no transaction completed in %.2f s", r.elapsed_s);
      return;
    }
    r.value = static_cast<double>(completed_) / r.elapsed_s;
    if (lat_ns_.empty()) {
      sh_->stop.store(1);
      return;
    }
    std::sort(lat_ns_.begin(), lat_ns_.end());
    auto pct = [&](double q) {
      const auto i = static_cast<size_t>(q * static_cast<double>(lat_ns_.size() - 1));
      return static_cast<double>(lat_ns_[i]) / 1e3;
    };
    r.p50_us = pct(0.50);
    r.p99_us = pct(0.99);
    sh_->stop.store(1);
  }

  // ---- idle: open --count connections (kIdleInFlight handshakes at a time) and hold them
  static err_t on_idle_connected(void* arg, tcp_pcb*, err_t) {
    auto* self = static_cast<Client*>(arg);
    ++self->connected_;
    --self->in_flight_;
    return ERR_OK;
  }
  static void on_idle_err(void* arg, err_t err) {
    auto* self = static_cast<Client*>(arg);
    self->fail("idle: connection error %d after %lld connections", err,
               static_cast<long long>(self->connected_));
  }
  bool step_idle() {
    if (start_ns_ == 0) start_ns_ = now_ns();
    // Client ports 1024.. with SO_REUSEADDR, one server port per 60 000 connections: lwIP's
    // automatic ports (0xc000-0xffff) are unique per stack, which would stop at 16 384.
    while (opened_ < opt_.count && in_flight_ < kIdleInFlight) {
      const int i = opened_;
      tcp_pcb* pcb = tcp_new();
      if (pcb == nullptr) return fail("tcp_new failed after %d connections", i);
      tcp_arg(pcb, this);
      tcp_err(pcb, &Client::on_idle_err);
      ip_set_option(pcb, SOF_REUSEADDR);
      const auto lport = static_cast<u16_t>(1024 + i % kIdlePortsPerServerPort);
      const auto rport = static_cast<u16_t>(opt_.port + i / kIdlePortsPerServerPort);
      err_t e = tcp_bind(pcb, IP4_ADDR_ANY, lport);
      if (e == ERR_OK) e = tcp_connect(pcb, &server_ip_, rport, &Client::on_idle_connected);
      if (e != ERR_OK) {
        tcp_abort(pcb);
        return fail("idle: bind/connect %d -> %d: lwIP error %d after %d connections", lport, rport,
                    e, i);
      }
      ++opened_;
      ++in_flight_;
    }
    if (!sh_->measure.load() && connected_ == opt_.count && sh_->accepted.load() == opt_.count) {
      PairResult& r = sh_->result;
      r.elapsed_s = static_cast<double>(now_ns() - start_ns_) / 1e9;  // time to open them all
      r.completed = static_cast<uint64_t>(connected_);
      sh_->side[side_].heap_growth = heap_in_use() - heap0_;
      sh_->measured.fetch_add(1);
      sh_->measure.store(1);
    }
    if (sh_->measured.load() == 2) {
      const int64_t growth = sh_->side[kClient].heap_growth + sh_->side[kServer].heap_growth;
      sh_->result.value = static_cast<double>(growth) / (2.0 * opt_.count);
      sh_->stop.store(1);
      return false;
    }
    return true;
  }

  ip_addr_t server_ip_{};
  std::vector<uint8_t> request_;
  std::vector<Conn> conns_;
  std::vector<int64_t> lat_ns_;
  tcp_pcb* bulk_ = nullptr;
  bool shut_ = false;
  uint64_t sent_ = 0;
  int64_t start_ns_ = 0;
  int64_t end_ns_ = 0;
  int64_t connected_ = 0;
  uint64_t completed_ = 0;
  int64_t heap0_ = 0;
  int opened_ = 0;
  int in_flight_ = 0;
  int closes_since_trim_ = 0;
};

}  // namespace

int run_pair_side(const Options& opt, PairShared* shared, int side) {
  bool ok = false;
  run_in_tcpip_thread([&] {
    if (side == kClient) {
      Client c(opt, shared, side);
      ok = c.run();
    } else {
      Server s(opt, shared, side);
      ok = s.run();
    }
  });
  return ok ? 0 : 1;
}

}  // namespace lwip_bench
