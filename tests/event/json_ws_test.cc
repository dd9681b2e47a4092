// The one JSON white-space trimmer (event::trim_json_ws), used by the event
// codec, es's write-answer parser and the proxy's capture.
#include <gtest/gtest.h>

#include <string_view>

#include "event/event.h"

namespace tandem::event {
namespace {

TEST(JsonWs, TheFourCharactersOfRfc8259AndNothingElse) {
  for (char c : {' ', '\t', '\n', '\r'}) EXPECT_TRUE(is_json_ws(c)) << int(c);
  for (char c : {'\f', '\v', '\0', 'a', '{', ',', '\xA0'}) EXPECT_FALSE(is_json_ws(c)) << int(c);
}

TEST(JsonWs, TrimsBothEndsOnly) {
  EXPECT_EQ(trim_json_ws(" \t\r\n{\"a\" : [1, 2]}\n\r\t "), "{\"a\" : [1, 2]}");
  EXPECT_EQ(trim_json_ws("42"), "42");
  EXPECT_EQ(trim_json_ws("\n42"), "42");
  EXPECT_EQ(trim_json_ws("42 "), "42");
  EXPECT_EQ(trim_json_ws("\"a b\""), "\"a b\"");  // inner white space stays
}

TEST(JsonWs, AllWhiteSpaceOrEmptyIsEmpty) {
  EXPECT_TRUE(trim_json_ws("").empty());
  EXPECT_TRUE(trim_json_ws(" \t\r\n \n").empty());
}

// Other characters are not JSON white space, so they stay: a form feed or
// a non-breaking space around a value makes it invalid JSON, and trimming
// must not hide that.
TEST(JsonWs, KeepsWhatIsNotJsonWhiteSpace) {
  EXPECT_EQ(trim_json_ws("\f{}\f"), "\f{}\f");
  EXPECT_EQ(trim_json_ws("\xC2\xA0{}"), "\xC2\xA0{}");
  EXPECT_EQ(trim_json_ws(std::string_view("\0{}", 3)), std::string_view("\0{}", 3));
}

// A view into the argument, not a copy: callers compute offsets from it.
TEST(JsonWs, ReturnsAViewIntoTheInput) {
  constexpr std::string_view s = "  {}  ";
  const std::string_view t = trim_json_ws(s);
  EXPECT_EQ(t.data(), s.data() + 2);
  EXPECT_EQ(t.size(), 2u);
  static_assert(trim_json_ws(" x ") == "x");
}

}  // namespace
}  // namespace tandem::event
