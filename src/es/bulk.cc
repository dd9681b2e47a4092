// NDJSON _bulk bodies and the simdjson parser for _bulk answers.
#include <simdjson.h>

#include <string>
#include <string_view>

#include "core/scratch.h"
#include "es/es.h"
#include "es/internal.h"
#include "event/event.h"

namespace tandem::es {

void BulkBuilder::action(std::string_view op, const IndexName& idx, const DocId& id,
                         const std::optional<std::string>& routing, std::optional<VersionSpec> v) {
  body_ += "{\"";
  body_ += op;
  body_ += "\":{\"_index\":";
  event::append_json_string(body_, idx.get());
  if (with_type_) body_ += ",\"_type\":\"_doc\"";
  body_ += ",\"_id\":";
  event::append_json_string(body_, id.get());
  if (routing) {
    body_ += ",\"routing\":";
    event::append_json_string(body_, *routing);
  }
  if (v) {
    body_ += ",\"version\":";
    body_ += std::to_string(v->version);
    body_ += v->gte ? ",\"version_type\":\"external_gte\"" : ",\"version_type\":\"external\"";
  } else {
    ++unversioned_;
  }
  body_ += "}}\n";
  ++count_;
}

void BulkBuilder::index(const IndexName& idx, const DocId& id, std::string_view source,
                        const std::optional<std::string>& routing, std::optional<VersionSpec> v) {
  action("index", idx, id, routing, v);
  body_.append(source);
  body_.push_back('\n');
}

void BulkBuilder::create(const IndexName& idx, const DocId& id, std::string_view source,
                         const std::optional<std::string>& routing) {
  action("create", idx, id, routing, std::nullopt);
  body_.append(source);
  body_.push_back('\n');
}

void BulkBuilder::remove(const IndexName& idx, const DocId& id,
                         const std::optional<std::string>& routing, std::optional<VersionSpec> v) {
  action("delete", idx, id, routing, v);
}

namespace {

namespace od = simdjson::ondemand;

Status bad(std::string_view what, simdjson::error_code e) {
  return Status(Code::kProtocol, std::string("malformed _bulk response (") + std::string(what) +
                                     "): " + simdjson::error_message(e));
}

// Errors inside one write result; the caller says whose answer it was.
Status bad_member(std::string_view what, simdjson::error_code e) {
  return Status(Code::kProtocol, std::string(what) + ": " + simdjson::error_message(e));
}

// The padded copy of the body being parsed: offsets of "get" members are
// taken from its start, and the second parser reads inside it.
struct Buffer {
  const char* base;
  size_t allocated;  // readable bytes from base (size + SIMDJSON_PADDING)
};

// Reads "type"/"reason" (and caused_by when reason is missing) of an error
// object.
simdjson::error_code read_error(od::object err, std::string* type, std::string* reason) {
  std::string cb_type, cb_reason;
  for (auto f : err) {
    std::string_view key;
    if (auto e = f.unescaped_key().get(key)) return e;
    od::value v;
    if (auto e = f.value().get(v)) return e;
    if (key == "type") {
      std::string_view s;
      if (v.get_string().get(s) == simdjson::SUCCESS) *type = std::string(s);
    } else if (key == "reason") {
      std::string_view s;
      if (v.get_string().get(s) == simdjson::SUCCESS) *reason = std::string(s);
    } else if (key == "caused_by") {
      od::object cb;
      if (v.get_object().get(cb) == simdjson::SUCCESS) {
        if (auto e = read_error(cb, &cb_type, &cb_reason)) return e;
      }
    }
  }
  if (reason->empty() && !cb_reason.empty()) {
    *reason = cb_type.empty() ? cb_reason : cb_type + ": " + cb_reason;
  }
  return simdjson::SUCCESS;
}

// Reads get._source out of the "get" object's bytes with a second parser
// (the outer document is still being iterated by the first).
Status read_get_member(std::string_view span, const Buffer& buf, BulkItem* it) {
  size_t cap = static_cast<size_t>(buf.base + buf.allocated - span.data());
  thread_local od::parser aux;
  const ScratchBound keep_aux(aux);  // before `doc`, which points into it
  od::document doc;
  if (auto e = aux.iterate(span.data(), span.size(), cap).get(doc)) return bad_member("\"get\"", e);
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return bad_member("\"get\"", e);
  bool found = false;
  std::optional<std::string> source;
  for (auto f : obj) {
    od::field field;
    if (auto e = std::move(f).get(field)) return bad_member("\"get\"", e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return bad_member("\"get\" key", e);
    od::value v = field.value();
    if (key == "found") {
      if (auto e = v.get_bool().get(found)) return bad_member("get.found", e);
    } else if (key == "_source") {
      od::json_type t;
      if (auto e = v.type().get(t)) return bad_member("get._source", e);
      if (t != od::json_type::object) {
        return Status(Code::kProtocol, "get._source is not an object");
      }
      od::object src;
      std::string_view raw;
      if (auto e = v.get_object().get(src)) return bad_member("get._source", e);
      if (auto e = src.raw_json().get(raw)) return bad_member("get._source", e);
      source = std::string(event::trim_json_ws(raw));
    }
  }
  if (found && source) it->get_source = std::move(source);
  return Status::ok();
}

// The "get" member's erase range: with the preceding comma when there is
// one, else with the following comma (the member was first), else the
// member alone. `key_start` is its opening quote, `span` its value.
void get_erase_range(const char* key_start, std::string_view span, const Buffer& buf,
                     BulkItem* it) {
  const char* begin = key_start;
  const char* end = span.data() + span.size();
  const char* p = key_start - 1;
  while (p > buf.base && event::is_json_ws(*p)) --p;
  if (*p == ',') {
    begin = p;
  } else {
    const char* limit = buf.base + buf.allocated;
    const char* q = end;
    while (q < limit && event::is_json_ws(*q)) ++q;
    if (q < limit && *q == ',') {
      ++q;
      while (q < limit && event::is_json_ws(*q)) ++q;
      end = q;
    }
  }
  it->get_begin = static_cast<size_t>(begin - buf.base);
  it->get_end = static_cast<size_t>(end - buf.base);
}

// One write result: a bulk item's inner object, or a single-document write
// answer (the same members). Unknown members are skipped.
Status read_item(od::object obj, const Buffer& buf, BulkItem* it) {
  for (auto f : obj) {
    od::field field;
    if (auto e = std::move(f).get(field)) return bad_member("item", e);
    // key() before unescaped_key(): the latter consumes the key.
    const char* key_start = field.key().raw() - 1;  // the opening quote
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return bad_member("item key", e);
    od::value v = field.value();
    if (key == "_index") {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return bad_member("_index", e);
      it->index = IndexName(std::string(s));
    } else if (key == "_id") {
      std::string_view s;
      // _id may be null for a failed auto-id create on some versions.
      if (v.get_string().get(s) == simdjson::SUCCESS) it->id = DocId(std::string(s));
    } else if (key == "status") {
      int64_t n;
      if (auto e = v.get_int64().get(n)) return bad_member("status", e);
      it->status = static_cast<int>(n);
    } else if (key == "_version") {
      int64_t n;
      if (auto e = v.get_int64().get(n)) return bad_member("_version", e);
      it->version = n;
    } else if (key == "_seq_no") {
      int64_t n;
      if (auto e = v.get_int64().get(n)) return bad_member("_seq_no", e);
      it->seq_no = SeqNo(n);
    } else if (key == "_primary_term") {
      int64_t n;
      if (auto e = v.get_int64().get(n)) return bad_member("_primary_term", e);
      it->primary_term = PrimaryTerm(n);
    } else if (key == "result") {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return bad_member("result", e);
      it->result = std::string(s);
    } else if (key == "error") {
      it->has_error = true;
      od::object err;
      if (v.get_object().get(err) == simdjson::SUCCESS) {
        if (auto e = read_error(err, &it->error_type, &it->error_reason))
          return bad_member("error", e);
      } else {
        std::string_view s;
        if (v.get_string().get(s) == simdjson::SUCCESS) it->error_reason = std::string(s);
      }
    } else if (key == "get") {
      // Two would leave one in the client's copy when the proxy cuts the
      // injected one out; no version of ES sends two.
      if (it->has_get) return Status(Code::kProtocol, "two \"get\" members");
      od::object g;
      std::string_view span;
      if (auto e = v.get_object().get(g)) return bad_member("get", e);
      if (auto e = g.raw_json().get(span)) return bad_member("get", e);
      span = event::trim_json_ws(span);
      it->has_get = true;
      TANDEM_RETURN_IF_ERROR(read_get_member(span, buf, it));
      get_erase_range(key_start, span, buf, it);
    }
    // Everything else (_type, _shards, forced_refresh) is skipped.
  }
  return Status::ok();
}

bool is_bulk_op(std::string_view op) {
  return op == "index" || op == "create" || op == "update" || op == "delete";
}

// Parses `answer` and hands its top-level object to `read`, with one parser
// per thread that keeps its buffers (the proxy parses every answer it
// captures on the request path) up to kScratchKeepBytes: what `read`
// returns holds copies and offsets, nothing that points into them.
template <typename T, typename F>
Result<T> read_top_object(std::string_view answer, std::string_view what, F&& read) {
  // ondemand needs SIMDJSON_PADDING readable bytes past the end. The copy
  // goes into a buffer per thread that keeps its capacity, like the parser:
  // a fresh one per answer made the allocator hand out (and the kernel
  // clear) new pages for every large answer (bench/bulk_response_bench).
  thread_local std::string padded;
  thread_local od::parser parser;
  // Before `doc`, which points into both.
  const ScratchBound keep_padded(padded);
  const ScratchBound keep_parser(parser);
  padded.assign(answer);
  padded.resize(answer.size() + simdjson::SIMDJSON_PADDING);
  const Buffer buf{padded.data(), padded.size()};
  auto malformed = [&](std::string_view where, simdjson::error_code e) {
    return Status(Code::kProtocol, "malformed " + std::string(what) + " (" + std::string(where) +
                                       "): " + simdjson::error_message(e));
  };
  od::document doc;
  if (auto e = parser.iterate(padded.data(), answer.size(), padded.size()).get(doc)) {
    return malformed("document", e);
  }
  od::object root;
  if (auto e = doc.get_object().get(root)) return malformed("top level", e);
  return read(root, buf);
}

}  // namespace

// One parser for every _bulk answer tandem reads: the loader's, backfill's
// and repair's own bulks, and every bulk the proxy captures (it parses each
// acknowledged answer on the request path, hence simdjson On Demand and a
// parser per thread that keeps its buffers).
Result<BulkResponse> parse_bulk_response(std::string_view body) {
  return read_top_object<BulkResponse>(
      body, "_bulk response", [&](od::object root, const Buffer& buf) -> Result<BulkResponse> {
        BulkResponse out;
        bool saw_items = false;
        for (auto f : root) {
          std::string_view key;
          if (auto e = f.unescaped_key().get(key)) return bad("key", e);
          od::value v;
          if (auto e = f.value().get(v)) return bad("value", e);
          if (key == "took") {
            int64_t n;
            if (auto e = v.get_int64().get(n)) return bad("took", e);
            out.took_ms = n;
          } else if (key == "errors") {
            bool b;
            if (auto e = v.get_bool().get(b)) return bad("errors", e);
            out.errors = b;
          } else if (key == "items") {
            saw_items = true;
            od::array items;
            if (auto e = v.get_array().get(items)) return bad("items", e);
            // One allocation of the exact size: counting walks the structural
            // index only, while growing a vector of items moves each of them
            // several times and, past a few hundred items, makes the allocator
            // hand fresh pages to every answer (measured: bench/bulk_response_bench).
            // A failed count leaves the array unusable: it is the answer's error.
            size_t count = 0;
            if (auto e = items.count_elements().get(count)) return bad("items", e);
            out.items.reserve(count);
            for (auto item : items) {
              od::object wrapper;
              if (auto e = item.get_object().get(wrapper)) return bad("item", e);
              BulkItem it;
              size_t ops = 0;
              for (auto op : wrapper) {
                if (++ops > 1) {
                  return Status(Code::kProtocol, "malformed _bulk response: item #" +
                                                     std::to_string(out.items.size()) +
                                                     " has two actions");
                }
                std::string_view opname;
                if (auto e = op.unescaped_key().get(opname)) return bad("item op", e);
                if (!is_bulk_op(opname)) {
                  return Status(Code::kProtocol, "malformed _bulk response: unknown item action [" +
                                                     sanitize_snippet(opname, 40) + "]");
                }
                od::object body_obj;
                if (auto e = op.value().get_object().get(body_obj)) return bad("item body", e);
                it.op = std::string(opname);
                Status st = read_item(body_obj, buf, &it);
                if (!st.is_ok()) {
                  return st.context("malformed _bulk response: item #" +
                                    std::to_string(out.items.size()));
                }
              }
              if (ops == 0) {
                return Status(Code::kProtocol, "malformed _bulk response: empty item #" +
                                                   std::to_string(out.items.size()));
              }
              out.items.push_back(std::move(it));
            }
          } else if (key == "error") {
            return Status(Code::kProtocol, "_bulk answered with an error: " + error_summary(body));
          }
        }
        if (!saw_items) {
          return Status(Code::kProtocol,
                        "malformed _bulk response (no items): " + sanitize_snippet(body, 80));
        }
        return out;
      });
}

Result<BulkItem> parse_write_response(std::string_view body) {
  return read_top_object<BulkItem>(body, "write response",
                                   [](od::object obj, const Buffer& buf) -> Result<BulkItem> {
                                     BulkItem out;
                                     Status st = read_item(obj, buf, &out);
                                     if (!st.is_ok()) return st.context("malformed write response");
                                     return out;
                                   });
}

}  // namespace tandem::es
