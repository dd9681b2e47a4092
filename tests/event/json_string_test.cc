// The one JSON escaper (event::append_json_string): the envelope, bulk
// action lines and error bodies all go through it.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <nlohmann/json.hpp>
#include <string>

#include "event/event.h"

namespace tandem::event {
namespace {

constexpr const char* kFffd = "\xEF\xBF\xBD";

std::string q(std::string_view inner) {
  return "\"" + std::string(inner) + "\"";
}

TEST(JsonString, ControlAndQuotes) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  // One rule for control characters, no short forms.
  EXPECT_EQ(json_string(std::string("\0\x01\b\f\n\r\t\x1f", 8)),
            "\"\\u0000\\u0001\\u0008\\u000c\\u000a\\u000d\\u0009\\u001f\"");
  EXPECT_EQ(json_string("\x7f"), "\"\x7f\"");
  EXPECT_EQ(json_string("/"), "\"/\"");
  EXPECT_EQ(json_string("é✓🎉"), "\"é✓🎉\"");  // valid UTF-8 passes through
}

TEST(JsonString, InvalidUtf8BecomesOneReplacementPerMaximalSubpart) {
  EXPECT_EQ(json_string("a\xff"
                        "b"),
            q(std::string("a") + kFffd + "b"));
  EXPECT_EQ(json_string("\xc3"), q(kFffd));  // truncated 2-byte
  EXPECT_EQ(json_string("\xe2\x82"
                        "A"),
            q(std::string(kFffd) + "A"));            // truncated 3-byte: one U+FFFD
  EXPECT_EQ(json_string("\xf0\x9f\x98"), q(kFffd));  // truncated 4-byte
  EXPECT_EQ(json_string("\xc0\xaf"), q(std::string(kFffd) + kFffd));              // overlong
  EXPECT_EQ(json_string("\xed\xa0\x80"), q(std::string(kFffd) + kFffd + kFffd));  // surrogate
  EXPECT_EQ(json_string("\xf4\x90\x80\x80"),
            q(std::string(kFffd) + kFffd + kFffd + kFffd));  // above U+10FFFF
}

TEST(JsonString, AlwaysValidJsonWhateverTheBytes) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  const std::string out = json_string(all);
  EXPECT_TRUE(simdjson::validate_utf8(out));
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_TRUE(j.is_string());
  // Every valid byte survives a round trip.
  const std::string valid = "id \"x\"\\\n\t/é";
  EXPECT_EQ(nlohmann::json::parse(json_string(valid)).get<std::string>(), valid);
}

}  // namespace
}  // namespace tandem::event
