// libFuzzer target: the proxy's _bulk request parser / rewriter, the one
// _bulk answer parser (es::parse_bulk_response, and parse_write_response
// for single-document answers) and the proxy's stripper. Invariants
// checked on every input:
//  - spans of a parsed request lie inside the forwarded body;
//  - a rewritten body parses again with every injected item now "client
//    asked" and nothing left to inject (the rewrite is a fixpoint);
//  - stripping "get" members from a parsed response yields a body no larger
//    than the original that parses again to the same items without "get",
//    and stripping nothing is the identity.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "es/es.h"
#include "proxy/bulk.h"

using namespace tandem::proxy::bulk;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Defaults d;
  d.index = tandem::IndexName("default");
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
  auto r = tandem::es::parse_bulk_response(in);
  if (r.is_ok()) {
    std::vector<bool> none(r->items.size(), false), all(r->items.size(), true);
    if (strip_get_members(in, *r, none) != in) abort();
    std::string stripped = strip_get_members(in, *r, all);
    if (stripped.size() > in.size()) abort();
    // What is left is still a bulk answer with the same items, none of
    // them with a "get" member any more.
    auto again = tandem::es::parse_bulk_response(stripped);
    if (!again.is_ok() || again->items.size() != r->items.size()) abort();
    for (size_t i = 0; i < r->items.size(); ++i) {
      if (again->items[i].has_get || again->items[i].id != r->items[i].id ||
          again->items[i].seq_no != r->items[i].seq_no) {
        abort();
      }
    }
  }
  auto w = tandem::es::parse_write_response(in);
  if (w.is_ok() && w->has_get && (w->get_begin > w->get_end || w->get_end > in.size())) abort();
  return 0;
}
