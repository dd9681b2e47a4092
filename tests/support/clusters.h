// Connecting integration tests to the real clusters of scripts/services.
// Header-only: the support library does not link the es component.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "es/es.h"
#include "http/http.h"

namespace tandem::testing {

// es::connect, or a test failure naming the cluster, its URL and how to
// start it (nullptr then).
inline std::unique_ptr<es::Client> connect_or_die(const std::string& label,
                                                  const std::string& url) {
  http::ClientOptions o;
  auto u = http::Url::parse(url);
  EXPECT_TRUE(u.is_ok()) << url << ": " << u.status().to_string();
  if (!u.is_ok()) return nullptr;
  o.url = *u;
  auto c = es::connect(label, o);
  if (!c.is_ok()) {
    ADD_FAILURE() << "cluster '" << label << "' at " << url
                  << " is not reachable (start it with scripts/services up): "
                  << c.status().to_string();
    return nullptr;
  }
  return std::move(c).value();
}

}  // namespace tandem::testing
