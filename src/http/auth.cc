#include "http/auth.h"

#include <arpa/inet.h>

#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "syncscope/http/debug_server.h"

namespace syncscope::http {

namespace internal {

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  // Fold every byte of the longer input so the loop length leaks only the
  // lengths (which the attacker controls for one side anyway).
  const std::size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  // volatile read keeps the compiler from turning the fold into an early exit.
  volatile unsigned result = diff;
  return result == 0;
}

bool bearer_token_matches(const Request& req, std::string_view token) {
  if (req.get_header_value_count("Authorization") != 1) return false;
  const std::string value = req.get_header_value("Authorization");
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(value.data(), kScheme.size()),
                              absl::string_view(kScheme.data(), kScheme.size()))) {
    return false;
  }
  return constant_time_equal(std::string_view(value).substr(kScheme.size()), token);
}

}  // namespace internal

bool is_loopback_address(const std::string& address) {
  if (address == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;  // 127.0.0.0/8
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) != 0;
  }
  return false;  // host names other than localhost could resolve anywhere
}

absl::Status parse_listen_address(const std::string& spec, Options* options) {
  const std::size_t colon = spec.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError("listen address \"" + spec +
                                      "\" must be host:port, e.g. 127.0.0.1:6060");
  }
  std::string host = spec.substr(0, colon);
  const std::string port_text = spec.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "127.0.0.1";
  int port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535 ||
      port_text.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(port_text[0]))) {
    return absl::InvalidArgumentError("listen address \"" + spec +
                                      "\": port must be a number in 0..65535");
  }
  options->address = host;
  options->port = port;
  return absl::OkStatus();
}

}  // namespace syncscope::http
