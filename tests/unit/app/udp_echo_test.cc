// app::UdpEcho on two Stacks joined by a SimLink, in virtual time: the client's datagrams come
// back unchanged from the echo port (ARP first), counters count them, an echo that cannot be
// routed back is a counted send error, and bind errors are reported.
#include "ustack/app/udp_echo.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "ustack/dev/sim_nic.h"
#include "ustack/stack/stack.h"

namespace ustack::app {
namespace {

using wire::Ipv4Addr;

const Ipv4Addr kClientIp = Ipv4Addr::from_octets(192, 0, 2, 1);
const Ipv4Addr kServerIp = Ipv4Addr::from_octets(192, 0, 2, 2);

dev::DeviceConfig nic(const char* name, uint8_t last) {
  dev::DeviceConfig c;
  c.name = name;
  c.mac = wire::MacAddr{{0x02, 0, 0, 0, 0, last}};
  return c;
}

stack::StackConfig host(const char* name, uint64_t seed) {
  stack::StackConfig c;
  c.name = name;
  c.seed = seed;
  return c;
}

class UdpEchoTest : public ::testing::Test {
 protected:
  UdpEchoTest() {
    link_.attach(nic_c_);
    link_.attach(nic_s_);
    const int ic = client_.add_interface(nic_c_).ifindex();
    const int is = server_.add_interface(nic_s_).ifindex();
    EXPECT_TRUE(client_.add_address(now_, ic, {kClientIp, 24}));
    EXPECT_TRUE(server_.add_address(now_, is, {kServerIp, 24}));
  }

  // Runs both stacks and the cable in virtual time until nothing is due before `until`.
  void run_until(Instant until) {
    for (int steps = 0; steps < 100000; ++steps) {
      const Instant next = earliest(link_.next_deadline(),
                                    earliest(client_.next_deadline(), server_.next_deadline()));
      if (next > until) break;
      now_ = next > now_ ? next : now_;
      link_.advance(now_);
      for (int i = 0; i < 1000 && (client_.poll(now_) | server_.poll(now_)); ++i) {
      }
    }
    now_ = until;
  }
  void run_for(Duration d) { run_until(now_ + d); }

  Instant now_ = Instant::zero() + Duration::ms(1);
  PoolHandle pool_ = BufferPool::create();
  dev::SimLink link_{dev::SimLinkConfig{.latency = Duration::us(50)}};
  dev::SimNic nic_c_{nic("eth0", 1), *pool_};
  dev::SimNic nic_s_{nic("eth0", 2), *pool_};
  stack::Stack client_{host("client", 1)};
  stack::Stack server_{host("server", 2)};
};

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST_F(UdpEchoTest, EchoesEveryDatagramToItsSender) {
  UdpEcho echo(server_);
  ASSERT_TRUE(echo.start(7));
  EXPECT_EQ(echo.port(), 7);
  transport::UdpSocket* c = client_.udp().open();
  ASSERT_TRUE(c->bind({}, 40000));
  const std::string msgs[] = {"hello", "", std::string(1400, 'x'), "bye"};
  for (const std::string& m : msgs) ASSERT_TRUE(c->sendto(now_, bytes(m), kServerIp, 7));
  run_for(Duration::ms(100));

  for (const std::string& m : msgs) {
    std::vector<uint8_t> buf(2000);
    Ipv4Addr from;
    uint16_t from_port = 0;
    auto n = c->recv_into(buf, &from, &from_port);
    ASSERT_TRUE(n) << "no echo of a " << m.size() << "-byte datagram";
    EXPECT_EQ(std::string(buf.begin(), buf.begin() + static_cast<long>(*n)), m);
    EXPECT_EQ(from, kServerIp);
    EXPECT_EQ(from_port, 7);
  }
  EXPECT_FALSE(c->readable());
  EXPECT_EQ(echo.stats().datagrams, 4u);
  EXPECT_EQ(echo.stats().bytes, 5u + 0 + 1400 + 3);
  EXPECT_EQ(echo.stats().send_errors, 0u);
  EXPECT_EQ(echo.format(), "udp-echo :7 datagrams 4 bytes 1408 send_errors 0\n");
  client_.udp().close(c);
}

TEST_F(UdpEchoTest, UnroutableSenderIsASendError) {
  UdpEcho echo(server_);
  ASSERT_TRUE(echo.start(7));
  // The client also owns 10.9.9.9/32; the server has no route back to it.
  const Ipv4Addr stray = Ipv4Addr::from_octets(10, 9, 9, 9);
  ASSERT_TRUE(client_.add_address(now_, 1, {stray, 32}));
  transport::UdpSocket* c = client_.udp().open();
  ASSERT_TRUE(c->bind(stray, 40001));
  ASSERT_TRUE(c->sendto(now_, bytes("lost"), kServerIp, 7));
  run_for(Duration::ms(100));
  EXPECT_FALSE(c->readable());
  EXPECT_EQ(echo.stats().datagrams, 0u);
  EXPECT_EQ(echo.stats().send_errors, 1u);
  EXPECT_EQ(echo.stats().last_error, ENETUNREACH);
  client_.udp().close(c);
}

TEST_F(UdpEchoTest, BindErrors) {
  UdpEcho a(server_);
  ASSERT_TRUE(a.start(7));
  auto again = a.start(8);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), EINVAL);
  UdpEcho b(server_);
  auto busy = b.start(7);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error(), EADDRINUSE);
  UdpEcho c(server_);
  auto foreign = c.start(9, Ipv4Addr::from_octets(203, 0, 113, 1));
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error(), EADDRNOTAVAIL);
  EXPECT_EQ(c.port(), 0);
  const size_t open = server_.udp().sockets();
  { UdpEcho d(server_); }
  EXPECT_EQ(server_.udp().sockets(), open);  // a failed or destroyed echo closed its socket
}

}  // namespace
}  // namespace ustack::app
