// Where the real services started by scripts/services live. Integration
// tests read the same environment variables the scripts export; defaults
// match the scripts' default ports. Tests never skip silently: a missing
// service is a failure that names the URL.
#pragma once

#include <string>

namespace tandem::testing {

std::string blue_url();      // TANDEM_BLUE_URL,  default http://127.0.0.1:19200 (ES 7.17)
std::string green_url();     // TANDEM_GREEN_URL, default http://127.0.0.1:19201 (ES 8.x)
std::string kafka_brokers(); // TANDEM_KAFKA_BROKERS, default 127.0.0.1:19092
// A fresh name for this test run: prefix + pid + counter, lower case.
std::string unique_name(const std::string& prefix);

}  // namespace tandem::testing
