// The cutover control record (event.h): round trip and refusals.
#include <gtest/gtest.h>

#include "event/event.h"

namespace tandem::event {
namespace {

TEST(FlipDecisionTest, RoundTrips) {
  FlipDecision d{"cutover-1\"x", true, Epoch(7), "green", 1733300000000};
  const std::string raw = encode_decision(d);
  EXPECT_EQ(raw.find('\n'), std::string::npos);
  auto back = decode_decision(raw);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(*back, d);
  d.commit = false;
  back = decode_decision(encode_decision(d));
  ASSERT_TRUE(back.is_ok());
  EXPECT_FALSE(back->commit);
}

TEST(FlipDecisionTest, RefusesMalformed) {
  for (const char* bad : {"", "[]", "{\"v\":1}", "{\"v\":1,\"flip\":\"\",\"decision\":\"commit\"}",
                          "{\"v\":1,\"flip\":\"f\",\"decision\":\"maybe\",\"epoch\":1,"
                          "\"primary\":\"g\",\"ts\":1}",
                          "{\"v\":1,\"flip\":\"f\",\"decision\":\"commit\",\"epoch\":-1,"
                          "\"primary\":\"g\",\"ts\":1}"}) {
    auto d = decode_decision(bad);
    EXPECT_FALSE(d.is_ok()) << bad;
  }
  auto v2 = decode_decision(
      "{\"v\":2,\"flip\":\"f\",\"decision\":\"commit\",\"epoch\":1,\"primary\":\"g\",\"ts\":1}");
  ASSERT_FALSE(v2.is_ok());
  EXPECT_EQ(v2.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::event
