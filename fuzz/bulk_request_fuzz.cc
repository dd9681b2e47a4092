// libFuzzer target: the _bulk request parser / rewriter and the bulk
// response parser / stripper. Invariants checked on every input:
//  - spans of a parsed request lie inside the forwarded body;
//  - a rewritten body parses again with every injected item now "client
//    asked" and nothing left to inject (the rewrite is a fixpoint);
//  - stripping "get" members from a parsed response yields a body no larger
//    than the original, and stripping nothing is the identity.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/bulk.h"

using namespace tandem::proxy::bulk;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Defaults d;
  d.index = "default";
  auto p = parse_request(in, d);
  if (p.is_ok()) {
    std::string_view fwd = p->rewritten ? std::string_view(*p->rewritten) : in;
    for (const Item& it : p->items) {
      if (it.source_offset + it.source_length > fwd.size()) abort();
    }
    if (p->rewritten) {
      auto again = parse_request(*p->rewritten, d);
      if (!again.is_ok() || again->rewritten || again->items.size() != p->items.size()) abort();
      for (size_t i = 0; i < p->items.size(); ++i) {
        if (p->items[i].update_source == UpdateSource::kInjected &&
            again->items[i].update_source != UpdateSource::kClientAsked) {
          abort();
        }
      }
    }
  }
  auto r = parse_response(in);
  if (r.is_ok()) {
    std::vector<bool> none(r->items.size(), false), all(r->items.size(), true);
    if (strip_get_members(in, *r, none) != in) abort();
    if (strip_get_members(in, *r, all).size() > in.size()) abort();
  }
  return 0;
}
