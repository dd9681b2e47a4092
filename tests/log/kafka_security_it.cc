// The Kafka change log against the broker's secured listeners
// (scripts/services: SASL_PLAINTEXT with mechanism PLAIN, and SSL with a
// throwaway CA). Right settings: the real KafkaLog appends and reads back,
// so security.protocol, sasl.* and ssl.* reach librdkafka. Wrong settings:
// open fails within a bounded time with an error that names the brokers and
// what failed (authentication, TLS handshake) and never echoes the password.
//
// Secret values reach KafkaLogOptions already resolved: the proxy config
// takes them as "env:VAR" / "file:PATH" (proxy/config.h); here the password
// is read from the file scripts/services wrote.
//
// Skips, naming the variable, when the secured listeners are not exported
// (scripts/services env exports them, so `make test` runs these).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "log/log.h"
#include "support/services.h"

namespace tandem::log {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;
using ::testing::Not;

// A wrong setting must fail well before admin_timeout would expire.
constexpr auto kAdminTimeout = 20s;
constexpr auto kFailFast = 10s;

// A self-signed CA that signed nothing the broker presents.
constexpr const char* kUnrelatedCa = R"(-----BEGIN CERTIFICATE-----
MIIDKTCCAhGgAwIBAgIUPPanwatoKTKh0rF6xCQkr0NVBbUwDQYJKoZIhvcNAQEL
BQAwIzEhMB8GA1UEAwwYdGFuZGVtIHVucmVsYXRlZCB0ZXN0IENBMCAXDTI2MTEy
MjIxMjYwMFoYDzIxMjYxMDI5MjEyNjAwWjAjMSEwHwYDVQQDDBh0YW5kZW0gdW5y
ZWxhdGVkIHRlc3QgQ0EwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQDf
TV+/5W8n9/axn+nzskS6ZOUlYWdIT7PY9m27onBX4uFfe1cufaUNNAa9CD5QSDqI
G86bWJGAooIuet3ZIkYlovf46cgOKpq2VMpy4rGgd1Is0onj8rS0ydjgYcWnle3h
A2JjrtgfBW5q3ShYnuao7I+QR7B/QmhxxbTGxS5zKDi7bTitJBL90kjv26b/cURW
dYzIFPXRPJ8QeDmeXwBYa2Qud2nCLrO0h62Rs1nuiGg6eIITuWKZrHz/7MZYTbig
Nj+y9HsEsSiRshOIHWZCb54vOccqwN9pMZb94hr5LhV3H6VnpmVwQiAsU9Lg2N+1
gklzrRjZYtlywVLKZtB5AgMBAAGjUzBRMB0GA1UdDgQWBBSh4wxXQ6BpZ/582pYi
wTPiKM4oFjAfBgNVHSMEGDAWgBSh4wxXQ6BpZ/582pYiwTPiKM4oFjAPBgNVHRMB
Af8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4IBAQCbPs0hStebtL8eVrc+8jFuA4RA
gDCjmBTQYrih6MPyXu4exc41psCUvXkP9EUJ3Y8wh8O3C+CQ9X78DTx/rgm3JCNr
X7XRJolXmxuiNV4hYsNNNZK2enekROUWOe/JOrhWMphmkD8Wa6mkVle/SLopR/Vz
Nvermgqo81pyxqOUPFvAL6ioEUQtpyiiy7wGx3YUdrpCD6v+F2qZRwiz0t4VKFyG
7s5u6fo7z05g52xTSQ7PPI8MTkaerP7JsGYeUNZPVtSVzsVOQL8wA7IdsMr3/cGd
Bcx4raaPnDnHcfTMlqZHnBFLSXM8RGSOokZdNpPJhmsIclsWMjFaWYY0eKgZ
-----END CERTIFICATE-----
)";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

#define SKIP_UNLESS_SET(value, var)                                          \
  if ((value).empty()) {                                                     \
    GTEST_SKIP() << var                                                      \
        " is not set: run `eval \"$(scripts/services env)\"` with a broker " \
        "started by scripts/services (it has the secured listeners)";        \
  }

KafkaLogOptions base_options(const std::string& brokers) {
  KafkaLogOptions o;
  o.brokers = brokers;
  o.topic = testing::unique_name("tandem-sec");
  o.partitions = 2;
  o.replication = 1;
  o.admin_timeout = kAdminTimeout;
  o.properties["tandem.consumer.assignment"] = "all";
  return o;
}

// Appends `n` records, flushes, and reads them all back through a consumer
// built from the same options.
void round_trip(const KafkaLogOptions& o, int n) {
  auto opened = open_kafka_log(o);
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  auto log = std::move(opened).value();
  std::vector<AppendRecord> batch;
  int acked = 0;
  std::vector<std::string> failures;
  for (int i = 0; i < n; ++i) {
    batch.push_back(AppendRecord{"k" + std::to_string(i % 5), "v" + std::to_string(i),
                                 [&](const Status& s, Partition, Offset) {
                                   if (s.is_ok()) {
                                     ++acked;
                                   } else {
                                     failures.push_back(s.to_string());
                                   }
                                 }});
  }
  log->append(std::move(batch));
  ASSERT_TRUE(log->flush(30s).is_ok());
  EXPECT_EQ(acked, n);
  EXPECT_THAT(failures, ::testing::IsEmpty());

  auto c = log->consumer(testing::unique_name("sec-group"));
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  std::map<std::string, int> seen;
  const auto deadline = Clock::now() + 30s;
  while (static_cast<int>(seen.size()) < n && Clock::now() < deadline) {
    auto got = c.value()->poll(100, 500ms);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    for (const Record& r : got.value()) ++seen[r.value];
  }
  EXPECT_EQ(static_cast<int>(seen.size()), n) << "records read back over " << o.brokers;
}

// Opens with settings that must be refused: fails within kFailFast, names
// the brokers; returns the error for further checks.
Status open_must_fail(const KafkaLogOptions& o) {
  const auto start = Clock::now();
  auto r = open_kafka_log(o);
  const auto took = Clock::now() - start;
  EXPECT_FALSE(r.is_ok()) << "opened " << o.brokers << " with settings that must be refused";
  if (r.is_ok()) return Status::ok();
  EXPECT_LT(took, kFailFast) << "took "
                             << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                             << " ms: " << r.status().to_string();
  EXPECT_THAT(r.status().message(), HasSubstr(o.brokers));
  return r.status();
}

KafkaLogOptions sasl_options(const std::string& password) {
  KafkaLogOptions o = base_options(testing::kafka_sasl_brokers());
  o.properties["security.protocol"] = "SASL_PLAINTEXT";
  o.properties["sasl.mechanisms"] = "PLAIN";
  o.properties["sasl.username"] = testing::kafka_sasl_username();
  o.properties["sasl.password"] = password;
  return o;
}

TEST(KafkaSecurity, SaslPlainWithTheRightPasswordRoundTrips) {
  SKIP_UNLESS_SET(testing::kafka_sasl_brokers(), "TANDEM_KAFKA_SASL_BROKERS");
  SKIP_UNLESS_SET(testing::kafka_sasl_password_file(), "TANDEM_KAFKA_SASL_PASSWORD_FILE");
  const std::string password = read_file(testing::kafka_sasl_password_file());
  ASSERT_FALSE(password.empty()) << "empty password file TANDEM_KAFKA_SASL_PASSWORD_FILE";
  round_trip(sasl_options(password), 50);
}

TEST(KafkaSecurity, SaslWrongPasswordFailsFastAndClearlyWithoutEchoingIt) {
  SKIP_UNLESS_SET(testing::kafka_sasl_brokers(), "TANDEM_KAFKA_SASL_BROKERS");
  const std::string wrong = "Wr0ng-" + testing::unique_name("pw") + "-s3cret";
  const KafkaLogOptions o = sasl_options(wrong);
  Status s = open_must_fail(o);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), Code::kUnauthorized) << s.to_string();
  EXPECT_THAT(lower(s.message()), HasSubstr("authentication failed")) << s.to_string();
  EXPECT_THAT(s.to_string(), Not(HasSubstr(wrong)));
}

TEST(KafkaSecurity, SaslUnknownUserFailsClearly) {
  SKIP_UNLESS_SET(testing::kafka_sasl_brokers(), "TANDEM_KAFKA_SASL_BROKERS");
  SKIP_UNLESS_SET(testing::kafka_sasl_password_file(), "TANDEM_KAFKA_SASL_PASSWORD_FILE");
  const std::string password = read_file(testing::kafka_sasl_password_file());
  KafkaLogOptions o = sasl_options(password);
  o.properties["sasl.username"] = "nobody";
  Status s = open_must_fail(o);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), Code::kUnauthorized) << s.to_string();
  EXPECT_THAT(lower(s.message()), HasSubstr("authentication failed"));
  EXPECT_THAT(s.to_string(), Not(HasSubstr(password)));
}

KafkaLogOptions ssl_options() {
  KafkaLogOptions o = base_options(testing::kafka_ssl_brokers());
  o.properties["security.protocol"] = "SSL";
  return o;
}

void expect_tls_error(const Status& s) {
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), Code::kTls) << s.to_string();
  EXPECT_THAT(s.message(), HasSubstr("SSL handshake failed")) << s.to_string();
}

TEST(KafkaSecurity, SslWithTheBrokersCaRoundTrips) {
  SKIP_UNLESS_SET(testing::kafka_ssl_brokers(), "TANDEM_KAFKA_SSL_BROKERS");
  SKIP_UNLESS_SET(testing::kafka_ca_file(), "TANDEM_KAFKA_CA_FILE");
  KafkaLogOptions o = ssl_options();
  o.properties["ssl.ca.location"] = testing::kafka_ca_file();
  round_trip(o, 50);
}

TEST(KafkaSecurity, SslWithAnUnrelatedCaFailsOnCertificateVerification) {
  SKIP_UNLESS_SET(testing::kafka_ssl_brokers(), "TANDEM_KAFKA_SSL_BROKERS");
  KafkaLogOptions o = ssl_options();
  o.properties["ssl.ca.pem"] = kUnrelatedCa;
  Status s = open_must_fail(o);
  expect_tls_error(s);
  EXPECT_THAT(s.message(), HasSubstr("certificate verify failed"));
}

TEST(KafkaSecurity, SslWithoutTheCaFailsOnCertificateVerification) {
  SKIP_UNLESS_SET(testing::kafka_ssl_brokers(), "TANDEM_KAFKA_SSL_BROKERS");
  // No ssl.ca.location: only the system's CAs, none of which signed the
  // broker's throwaway certificate.
  Status s = open_must_fail(ssl_options());
  expect_tls_error(s);
  EXPECT_THAT(s.message(), HasSubstr("certificate verify failed"));
}

TEST(KafkaSecurity, SslAgainstThePlaintextListenerFailsOnTheHandshake) {
  SKIP_UNLESS_SET(testing::kafka_ca_file(), "TANDEM_KAFKA_CA_FILE");
  KafkaLogOptions o = base_options(testing::kafka_brokers());
  o.properties["security.protocol"] = "SSL";
  o.properties["ssl.ca.location"] = testing::kafka_ca_file();
  expect_tls_error(open_must_fail(o));
}

}  // namespace
}  // namespace tandem::log
