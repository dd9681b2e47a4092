// Tests drive WriteCapture::begin_async and wait for its answer; the
// server never waits (it is called back on its executor).
#pragma once

#include <future>
#include <utility>

#include "proxy/proxy.h"

namespace tandem::proxy::testing {

inline BeginResult begin_blocking(WriteCapture& cap, const RequestView& req,
                                  const Classification& cls) {
  std::promise<BeginResult> p;
  auto f = p.get_future();
  cap.begin_async(req, cls, [&p](BeginResult r) { p.set_value(std::move(r)); });
  return f.get();
}

}  // namespace tandem::proxy::testing
