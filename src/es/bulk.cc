// NDJSON _bulk bodies and the simdjson parser for _bulk answers.
#include <simdjson.h>

#include <string>
#include <string_view>

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

simdjson::error_code read_item(od::object obj, BulkItem* it) {
  for (auto f : obj) {
    std::string_view key;
    if (auto e = f.unescaped_key().get(key)) return e;
    od::value v;
    if (auto e = f.value().get(v)) return e;
    if (key == "_index") {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return e;
      it->index = IndexName(std::string(s));
    } else if (key == "_id") {
      std::string_view s;
      // _id may be null for a failed auto-id create on some versions.
      if (v.get_string().get(s) == simdjson::SUCCESS) it->id = DocId(std::string(s));
    } else if (key == "status") {
      int64_t n;
      if (auto e = v.get_int64().get(n)) return e;
      it->status = static_cast<int>(n);
    } else if (key == "_version") {
      int64_t n;
      if (auto e = v.get_int64().get(n)) return e;
      it->version = n;
    } else if (key == "_seq_no") {
      int64_t n;
      if (auto e = v.get_int64().get(n)) return e;
      it->seq_no = SeqNo(n);
    } else if (key == "_primary_term") {
      int64_t n;
      if (auto e = v.get_int64().get(n)) return e;
      it->primary_term = PrimaryTerm(n);
    } else if (key == "result") {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return e;
      it->result = std::string(s);
    } else if (key == "error") {
      od::object err;
      if (v.get_object().get(err) == simdjson::SUCCESS) {
        if (auto e = read_error(err, &it->error_type, &it->error_reason)) return e;
      } else {
        std::string_view s;
        if (v.get_string().get(s) == simdjson::SUCCESS) it->error_reason = std::string(s);
      }
    }
    // Everything else (_type, _shards, forced_refresh, get) is skipped.
  }
  return simdjson::SUCCESS;
}

}  // namespace

Result<BulkResponse> parse_bulk_response(std::string_view body) {
  // ondemand needs SIMDJSON_PADDING readable bytes past the end.
  simdjson::padded_string padded(body);
  od::parser parser;
  od::document doc;
  if (auto e = parser.iterate(padded).get(doc)) return bad("document", e);
  od::object root;
  if (auto e = doc.get_object().get(root)) return bad("top level", e);
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
      for (auto item : items) {
        od::object wrapper;
        if (auto e = item.get_object().get(wrapper)) return bad("item", e);
        BulkItem it;
        bool seen = false;
        for (auto op : wrapper) {
          std::string_view opname;
          if (auto e = op.unescaped_key().get(opname)) return bad("item op", e);
          od::object body_obj;
          if (auto e = op.value().get_object().get(body_obj)) return bad("item body", e);
          it.op = std::string(opname);
          if (auto e = read_item(body_obj, &it)) return bad("item fields", e);
          seen = true;
        }
        if (!seen) {
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
}

}  // namespace tandem::es
