// Where the real services started by scripts/services live. Integration
// tests read the same environment variables the scripts export; defaults
// match the scripts' default ports. Tests never skip silently: a missing
// service is a failure that names the URL.
#pragma once

#include <string>

namespace tandem::testing {

std::string blue_url();       // TANDEM_BLUE_URL,  default http://127.0.0.1:19200 (ES 7.17)
std::string green_url();      // TANDEM_GREEN_URL, default http://127.0.0.1:19201 (ES 8.x)
std::string kafka_brokers();  // TANDEM_KAFKA_BROKERS, default 127.0.0.1:19092

// The broker's secured listeners (scripts/services). Empty when the
// variable is unset: tests of secured listeners skip, naming the variable
// (scripts/services env exports all of them, so `make test` runs them).
std::string kafka_sasl_brokers();        // TANDEM_KAFKA_SASL_BROKERS (SASL_PLAINTEXT, PLAIN)
std::string kafka_sasl_username();       // TANDEM_KAFKA_SASL_USERNAME
std::string kafka_sasl_password_file();  // TANDEM_KAFKA_SASL_PASSWORD_FILE (the password itself)
std::string kafka_ssl_brokers();         // TANDEM_KAFKA_SSL_BROKERS (SSL, server auth only)
std::string kafka_ca_file();             // TANDEM_KAFKA_CA_FILE (PEM CA of the SSL listener)
// A fresh name for this test run: prefix + pid + counter, lower case.
std::string unique_name(const std::string& prefix);

}  // namespace tandem::testing
