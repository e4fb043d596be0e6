// Frame building for the packet egress; see packet_frame.h.
#include "dataplane/egress/packet_frame.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace mrelay {

std::array<uint8_t, 6> multicast_mac(in_addr group) noexcept {
  // RFC 1112 §6.4: 01:00:5e followed by the low 23 bits of the group address.
  const uint32_t host = ntohl(group.s_addr);
  return {0x01,
          0x00,
          0x5e,
          static_cast<uint8_t>((host >> 16) & 0x7f),
          static_cast<uint8_t>((host >> 8) & 0xff),
          static_cast<uint8_t>(host & 0xff)};
}

std::array<uint8_t, 6> multicast_mac6(const in6_addr& group) noexcept {
  // RFC 2464 7: 33:33 followed by the last four bytes of the group address.
  return {0x33, 0x33, group.s6_addr[12], group.s6_addr[13], group.s6_addr[14], group.s6_addr[15]};
}

uint16_t ones_sum(const uint8_t* data, size_t len) noexcept {
  uint64_t sum = 0;
  size_t i = 0;
  for (; i + 1 < len; i += 2) {
    sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  }
  if (i < len) {
    sum += static_cast<uint32_t>(data[i] << 8);
  }
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(sum);
}

uint16_t ipv4_header_checksum(const uint8_t* header, size_t len) noexcept {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) {
    sum += static_cast<uint32_t>(header[i] << 8 | header[i + 1]);
  }
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum & 0xffff);
}

namespace {

void put_ports(uint8_t* udp, const PacketOutput& output) noexcept {
  udp[0] = static_cast<uint8_t>(output.src_port >> 8);
  udp[1] = static_cast<uint8_t>(output.src_port);
  udp[2] = static_cast<uint8_t>(output.dst_port >> 8);
  udp[3] = static_cast<uint8_t>(output.dst_port);
}

FrameTemplate build_frame_template6(const PacketOutput& output) noexcept {
  FrameTemplate frame;
  frame.ipv6 = true;
  frame.header_len = kFrameHeaderLen6;
  uint8_t* bytes = frame.bytes.data();
  const std::array<uint8_t, 6> dst_mac = multicast_mac6(output.dst6);
  std::memcpy(bytes, dst_mac.data(), 6);
  std::memcpy(bytes + 6, output.src_mac.data(), 6);
  bytes[12] = 0x86;  // ETH_P_IPV6
  bytes[13] = 0xdd;
  uint8_t* ip = bytes + kEthHeaderLen;
  ip[0] = 0x60;  // version 6, traffic class 0 and flow label 0, as an ordinary UDP socket
  // ip[4..5] payload length and ip[7] hop limit are per packet (0 in the template).
  ip[6] = IPPROTO_UDP;
  std::memcpy(ip + 8, output.src6.s6_addr, 16);
  std::memcpy(ip + 24, output.dst6.s6_addr, 16);
  uint8_t* udp = ip + kIpv6HeaderLen;
  put_ports(udp, output);
  // udp[4..5] length and udp[6..7] checksum per packet. The checksum's constant part: the
  // pseudo header's addresses and next header, and the ports.
  uint32_t sum = ones_sum(ip + 8, 32);
  sum += IPPROTO_UDP + output.src_port + output.dst_port;
  frame.partial_sum = sum;
  return frame;
}

}  // namespace

FrameTemplate build_frame_template(const PacketOutput& output) noexcept {
  if (output.ipv6) {
    return build_frame_template6(output);
  }
  FrameTemplate frame;
  uint8_t* bytes = frame.bytes.data();
  const std::array<uint8_t, 6> dst_mac = multicast_mac(output.dst_addr);
  std::memcpy(bytes, dst_mac.data(), 6);
  std::memcpy(bytes + 6, output.src_mac.data(), 6);
  bytes[12] = 0x08;  // ETH_P_IP
  bytes[13] = 0x00;
  uint8_t* ip = bytes + kEthHeaderLen;
  ip[0] = 0x45;  // IPv4, 20-byte header, no options
  ip[1] = 0;     // DSCP/ECN: what an ordinary UDP socket sends
  // ip[2..3] total length and ip[4..5] id are per packet (0 in the template).
  ip[6] = 0x40;  // DF, as Linux sets for UDP with path-MTU discovery on; never fragmented here
  ip[7] = 0;
  // ip[8] TTL: per copy (0 in the template, so the sum below leaves it out).
  ip[9] = IPPROTO_UDP;
  // ip[10..11] checksum: per packet, from partial_sum.
  std::memcpy(ip + 12, &output.src_addr.s_addr, 4);
  std::memcpy(ip + 16, &output.dst_addr.s_addr, 4);
  uint8_t* udp = ip + kIpv4HeaderLen;
  put_ports(udp, output);
  // udp[4..5] length per packet; udp[6..7] checksum 0 = none (RFC 768, IPv4 only).
  // One's-complement sum of the header words that never change; per packet only the length,
  // id and TTL are added (RFC 1624 style incremental update), not 10 words re-summed.
  uint32_t sum = 0;
  for (size_t i = 0; i < kIpv4HeaderLen; i += 2) {
    sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
  }
  frame.partial_sum = sum;
  return frame;
}

void stamp_frame_header(const FrameTemplate& frame, uint16_t ip_id, uint32_t payload_len,
                        uint8_t ttl, uint8_t* out) noexcept {
  std::memcpy(out, frame.bytes.data(), kFrameHeaderLen);
  const uint32_t ip_len = kIpv4HeaderLen + kUdpHeaderLen + payload_len;
  const uint32_t udp_len = kUdpHeaderLen + payload_len;
  uint8_t* ip = out + kEthHeaderLen;
  ip[2] = static_cast<uint8_t>(ip_len >> 8);
  ip[3] = static_cast<uint8_t>(ip_len);
  ip[4] = static_cast<uint8_t>(ip_id >> 8);
  ip[5] = static_cast<uint8_t>(ip_id);
  ip[8] = ttl;
  // The TTL is the high byte of the (TTL, protocol) word.
  uint32_t sum = frame.partial_sum + (ip_len & 0xffff) + ip_id + (static_cast<uint32_t>(ttl) << 8);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  const auto checksum = static_cast<uint16_t>(~sum & 0xffff);
  ip[10] = static_cast<uint8_t>(checksum >> 8);
  ip[11] = static_cast<uint8_t>(checksum);
  uint8_t* udp = ip + kIpv4HeaderLen;
  udp[4] = static_cast<uint8_t>(udp_len >> 8);
  udp[5] = static_cast<uint8_t>(udp_len);
}

void stamp_frame_header6(const FrameTemplate& frame, uint32_t payload_len, uint8_t hop_limit,
                         uint16_t payload_sum, uint8_t* out) noexcept {
  std::memcpy(out, frame.bytes.data(), kFrameHeaderLen6);
  const uint32_t udp_len = kUdpHeaderLen + payload_len;  // also the IPv6 payload length
  uint8_t* ip = out + kEthHeaderLen;
  ip[4] = static_cast<uint8_t>(udp_len >> 8);
  ip[5] = static_cast<uint8_t>(udp_len);
  ip[7] = hop_limit;
  uint8_t* udp = ip + kIpv6HeaderLen;
  udp[4] = static_cast<uint8_t>(udp_len >> 8);
  udp[5] = static_cast<uint8_t>(udp_len);
  // The length counts twice: in the pseudo header and in the UDP header.
  uint64_t sum = uint64_t{frame.partial_sum} + 2 * (udp_len & 0xffff) + payload_sum;
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  uint16_t checksum = static_cast<uint16_t>(~sum & 0xffff);
  if (checksum == 0) {
    checksum = 0xffff;  // RFC 8200 8.1: a computed zero is sent as all ones
  }
  udp[6] = static_cast<uint8_t>(checksum >> 8);
  udp[7] = static_cast<uint8_t>(checksum);
}

namespace {

// The socket's local and peer addresses, either family.
Result<void> read_socket_addresses(int fd, PacketOutput& output) {
  sockaddr_in6 local{};
  socklen_t local_len = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
    return fail_errno("packet egress: getsockname");
  }
  sockaddr_in6 peer{};
  socklen_t peer_len = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
    return fail_errno("packet egress: getpeername (output socket not connected)");
  }
  if (local.sin6_family == AF_INET6) {
    output.ipv6 = true;
    output.src6 = local.sin6_addr;
    output.dst6 = peer.sin6_addr;
    output.src_port = ntohs(local.sin6_port);
    output.dst_port = ntohs(peer.sin6_port);
    output.multicast = peer.sin6_addr.s6_addr[0] == 0xff;
    return {};
  }
  sockaddr_in local4{};
  sockaddr_in peer4{};
  std::memcpy(&local4, &local, sizeof local4);
  std::memcpy(&peer4, &peer, sizeof peer4);
  output.src_addr = local4.sin_addr;
  output.src_port = ntohs(local4.sin_port);
  output.dst_addr = peer4.sin_addr;
  output.dst_port = ntohs(peer4.sin_port);
  output.multicast = IN_MULTICAST(ntohl(peer4.sin_addr.s_addr));
  return {};
}

}  // namespace

Result<PacketOutput> describe_output_socket(int fd) {
  PacketOutput output;
  char name[IFNAMSIZ] = {};
  socklen_t name_len = sizeof name;
  if (::getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, &name_len) != 0 || name[0] == '\0') {
    return fail_errno("packet egress: getsockopt(SO_BINDTODEVICE)");
  }
  output.ifindex = ::if_nametoindex(name);
  if (output.ifindex == 0) {
    return fail_errno(std::string("packet egress: if_nametoindex(") + name + ")");
  }
  ifreq request{};
  std::memcpy(request.ifr_name, name, std::min(sizeof request.ifr_name - 1, std::strlen(name)));
  if (::ioctl(fd, SIOCGIFHWADDR, &request) != 0) {
    return fail_errno(std::string("packet egress: ioctl(SIOCGIFHWADDR, ") + name + ")");
  }
  if (request.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    return fail(std::string("packet egress: ") + name, "not an Ethernet interface");
  }
  std::memcpy(output.src_mac.data(), request.ifr_hwaddr.sa_data, 6);
  if (auto read = read_socket_addresses(fd, output); !read) {
    return tl::unexpected(read.error());
  }
  return output;
}

}  // namespace mrelay
