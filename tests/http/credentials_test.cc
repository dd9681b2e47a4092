#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "http/http.h"

namespace tandem::http {
namespace {

// A fresh variable prefix per test, unset again afterwards, so tests never
// see each other's (or the developer's) environment.
class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> n{0};
    prefix_ = "TANDEM_HTTPUT_" + std::to_string(::getpid()) + "_" + std::to_string(n++);
    dir_ = std::filesystem::temp_directory_path() / prefix_;
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    for (const auto& name : set_) ::unsetenv(name.c_str());
    std::filesystem::remove_all(dir_);
  }
  void set(const std::string& suffix, const std::string& value) {
    std::string name = prefix_ + suffix;
    ::setenv(name.c_str(), value.c_str(), 1);
    set_.push_back(name);
  }
  std::string file(const std::string& name, const std::string& content) {
    auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }

  std::string prefix_;
  std::filesystem::path dir_;
  std::vector<std::string> set_;
};

TEST_F(EnvTest, NothingSetMeansNoCredentials) {
  auto c = Credentials::from_env(prefix_);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->kind, Credentials::Kind::kNone);
  EXPECT_EQ(c->authorization_header(), "");
}

TEST_F(EnvTest, BasicFromVariables) {
  set("_USERNAME", "elastic");
  set("_PASSWORD", "changeme");
  auto c = Credentials::from_env(prefix_);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->kind, Credentials::Kind::kBasic);
  EXPECT_EQ(c->username, "elastic");
  // base64("elastic:changeme")
  EXPECT_EQ(c->authorization_header(), "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==");
}

TEST_F(EnvTest, PasswordFileLosesTrailingNewline) {
  set("_USERNAME", "user");
  set("_PASSWORD_FILE", file("pw", "pass\r\n"));
  auto c = Credentials::from_env(prefix_);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->secret.reveal(), "pass");
  EXPECT_EQ(c->authorization_header(), "Basic dXNlcjpwYXNz");
}

TEST_F(EnvTest, ApiKeyUsedAsGiven) {
  set("_API_KEY", "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==");
  auto c = Credentials::from_env(prefix_);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->kind, Credentials::Kind::kApiKey);
  EXPECT_EQ(c->authorization_header(),
            "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==");
}

TEST_F(EnvTest, ApiKeyFile) {
  set("_API_KEY_FILE", file("key", "abc123\n"));
  auto c = Credentials::from_env(prefix_);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->authorization_header(), "ApiKey abc123");
}

TEST_F(EnvTest, BearerToken) {
  set("_BEARER_TOKEN", "tok");
  auto c = Credentials::from_env(prefix_);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->kind, Credentials::Kind::kBearer);
  EXPECT_EQ(c->authorization_header(), "Bearer tok");
}

TEST_F(EnvTest, MissingFileNamesVariableAndPathNotValue) {
  set("_USERNAME", "user");
  std::string path = (dir_ / "nope").string();
  set("_PASSWORD_FILE", path);
  auto c = Credentials::from_env(prefix_);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), Code::kIo);
  EXPECT_NE(c.status().message().find(prefix_ + "_PASSWORD_FILE"), std::string::npos);
  EXPECT_NE(c.status().message().find(path), std::string::npos);
}

TEST_F(EnvTest, EmptyFileIsAnError) {
  set("_API_KEY_FILE", file("empty", "\n"));
  auto c = Credentials::from_env(prefix_);
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find("is empty"), std::string::npos);
}

TEST_F(EnvTest, UsernameWithoutPassword) {
  set("_USERNAME", "user");
  auto c = Credentials::from_env(prefix_);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find(prefix_ + "_PASSWORD"), std::string::npos);
}

TEST_F(EnvTest, PasswordWithoutUsernameNeverShowsThePassword) {
  set("_PASSWORD", "s3cr3t-value");
  auto c = Credentials::from_env(prefix_);
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find(prefix_ + "_USERNAME"), std::string::npos);
  EXPECT_EQ(c.status().message().find("s3cr3t-value"), std::string::npos);
}

TEST_F(EnvTest, AmbiguousSettingsAreErrors) {
  set("_PASSWORD", "a");
  set("_PASSWORD_FILE", file("pw", "b"));
  set("_USERNAME", "u");
  auto both = Credentials::from_env(prefix_);
  ASSERT_FALSE(both.is_ok());
  EXPECT_NE(both.status().message().find("set only one"), std::string::npos);
}

TEST_F(EnvTest, TwoKindsAreAnError) {
  set("_USERNAME", "u");
  set("_PASSWORD", "secretpw");
  set("_API_KEY", "secretkey");
  auto c = Credentials::from_env(prefix_);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().message().find("secretpw"), std::string::npos);
  EXPECT_EQ(c.status().message().find("secretkey"), std::string::npos);
}

TEST_F(EnvTest, HeaderInjectionInSecretIsRefusedWithoutEchoing) {
  set("_API_KEY_FILE", file("key", "abc\r\nX-Evil: 1\n"));
  auto c = Credentials::from_env(prefix_);
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find("control characters"), std::string::npos);
  EXPECT_EQ(c.status().message().find("Evil"), std::string::npos);
}

TEST_F(EnvTest, UsernameWithColonIsRefused) {
  set("_USERNAME", "a:b");
  set("_PASSWORD", "p");
  EXPECT_FALSE(Credentials::from_env(prefix_).is_ok());
}

TEST_F(EnvTest, TlsOptionsFromEnv) {
  TlsOptions none = TlsOptions::from_env(prefix_);
  EXPECT_TRUE(none.ca_file.empty());
  EXPECT_FALSE(none.insecure);

  set("_CA_FILE", "/etc/ca.pem");
  set("_CERT_FILE", "/etc/c.pem");
  set("_KEY_FILE", "/etc/k.pem");
  set("_INSECURE", "1");
  TlsOptions t = TlsOptions::from_env(prefix_);
  EXPECT_EQ(t.ca_file, "/etc/ca.pem");
  EXPECT_EQ(t.cert_file, "/etc/c.pem");
  EXPECT_EQ(t.key_file, "/etc/k.pem");
  EXPECT_TRUE(t.insecure);
  set("_INSECURE", "0");
  EXPECT_FALSE(TlsOptions::from_env(prefix_).insecure);
  set("_INSECURE", "TRUE");
  EXPECT_TRUE(TlsOptions::from_env(prefix_).insecure);
}

TEST(Basic, Base64Padding) {
  Credentials c;
  c.kind = Credentials::Kind::kBasic;
  c.username = "a";
  c.secret = Secret("");
  EXPECT_EQ(c.authorization_header(), "Basic YTo=");  // "a:"
  c.secret = Secret("b");
  EXPECT_EQ(c.authorization_header(), "Basic YTpi");  // "a:b"
  c.secret = Secret("bc");
  EXPECT_EQ(c.authorization_header(), "Basic YTpiYw==");  // "a:bc"
}

}  // namespace
}  // namespace tandem::http

namespace tandem::http {
namespace {

TEST(EnvPrefixFor, UpperCasesAndReplacesOddCharacters) {
  EXPECT_EQ(env_prefix_for("blue"), "TANDEM_BLUE");
  EXPECT_EQ(env_prefix_for("seed target"), "TANDEM_SEED_TARGET");
  EXPECT_EQ(env_prefix_for("Es-9"), "TANDEM_ES_9");
}

}  // namespace
}  // namespace tandem::http
