// Authentication and address policy for DebugServer: which addresses count
// as loopback, how a listen spec is parsed, and the constant-time bearer
// token check.
#pragma once

#include <string_view>

#include "http/message.h"

namespace syncscope::http::internal {

// Compares in time that depends only on the lengths, never on where the
// first differing byte is, so the token cannot be guessed byte by byte.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// True when the request carries "Authorization: Bearer <token>" with exactly
// `token` (case-insensitive scheme, one header only). Byte-exact: the value
// arrives undecoded (a "%20" stays three bytes) and whole (an embedded NUL
// and what follows it are part of the compared value).
bool bearer_token_matches(const Request& req, std::string_view token);

}  // namespace syncscope::http::internal
