#include "support/services.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace tandem::testing {
namespace {
std::string env_or(const char* name, const char* def) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : std::string(def);
}
}  // namespace

std::string blue_url() {
  return env_or("TANDEM_BLUE_URL", "http://127.0.0.1:19200");
}
std::string green_url() {
  return env_or("TANDEM_GREEN_URL", "http://127.0.0.1:19201");
}
std::string kafka_brokers() {
  return env_or("TANDEM_KAFKA_BROKERS", "127.0.0.1:19092");
}
std::string kafka_sasl_brokers() {
  return env_or("TANDEM_KAFKA_SASL_BROKERS", "");
}
std::string kafka_sasl_username() {
  return env_or("TANDEM_KAFKA_SASL_USERNAME", "");
}
std::string kafka_sasl_password_file() {
  return env_or("TANDEM_KAFKA_SASL_PASSWORD_FILE", "");
}
std::string kafka_ssl_brokers() {
  return env_or("TANDEM_KAFKA_SSL_BROKERS", "");
}
std::string kafka_ca_file() {
  return env_or("TANDEM_KAFKA_CA_FILE", "");
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

}  // namespace tandem::testing
