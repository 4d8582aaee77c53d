// Query-parameter rules (Go's names, stricter validation).
#include "http/params.h"

#include <gtest/gtest.h>

namespace syncscope::http::internal {
namespace {

Request request(std::initializer_list<std::pair<const char*, const char*>> params) {
  Request r;
  for (const auto& [k, v] : params) r.params.emplace(k, v);
  return r;
}

TEST(ProfileParams, Defaults_AreBinaryNoSeconds) {
  absl::StatusOr<ProfileParams> p = profile_params(request({}), 2, 60);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->debug, 0);
  EXPECT_FALSE(p->seconds);
  EXPECT_FALSE(p->gc);
}

TEST(ProfileParams, ValidValues_AreParsed) {
  absl::StatusOr<ProfileParams> p = profile_params(request({{"debug", "2"}, {"gc", "1"}}), 2, 60);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->debug, 2);
  EXPECT_TRUE(p->gc);
  p = profile_params(request({{"seconds", "5"}}), 1, 60);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->seconds, 5);
}

TEST(ProfileParams, BadValues_AreInvalidArgumentWithOneLineReason) {
  const std::pair<const char*, const char*> bad[] = {
      {"debug", "3"}, {"debug", "x"}, {"debug", ""}, {"debug", "-1"}, {"debug", "1 "},
      {"seconds", "0"}, {"seconds", "61"}, {"seconds", "1e3"}, {"seconds", "99999999999999999999"},
      {"gc", "2"}};
  for (const auto& [k, v] : bad) {
    absl::StatusOr<ProfileParams> p = profile_params(request({{k, v}}), 2, 60);
    ASSERT_FALSE(p.ok()) << k << "=" << v;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(p.status().message()).find('\n'), std::string::npos);
    EXPECT_NE(std::string(p.status().message()).find(k), std::string::npos) << p.status();
  }
}

TEST(ProfileParams, SecondsWithDebug_IsRejectedAsInGo) {
  absl::StatusOr<ProfileParams> p =
      profile_params(request({{"seconds", "1"}, {"debug", "1"}}), 1, 60);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "seconds and debug params are incompatible");
}

TEST(ProfileParams, RepeatedParameter_IsRejected) {
  absl::StatusOr<ProfileParams> p = profile_params(request({{"debug", "1"}, {"debug", "2"}}), 2, 60);
  EXPECT_FALSE(p.ok());
}

}  // namespace
}  // namespace syncscope::http::internal
