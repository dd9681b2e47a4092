// Helpers shared by the meta transform tests: fixtures live next to this
// header, in tests/meta/fixtures/.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::meta::test_util {

// The JSON of tests/meta/fixtures/<name>.
inline nlohmann::json fixture(const std::string& name) {
  auto path = std::filesystem::path(__FILE__).parent_path() / "fixtures" / name;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

// Whether any of a transform's notes contains `part`.
inline bool has_note(const std::vector<std::string>& notes, const std::string& part) {
  for (const auto& n : notes) {
    if (n.find(part) != std::string::npos) return true;
  }
  return false;
}

}  // namespace tandem::meta::test_util
