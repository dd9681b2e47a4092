#include "proxy/capture_events.h"

#include "es/es.h"
#include "event/event.h"
#include "proxy/capture_json.h"

namespace tandem::proxy::detail {
namespace {

// An event the primary's answer gave no position for (reconciles, meta).
const SeqNo kNoSeqNo{-1};
const PrimaryTerm kNoTerm{-1};

bool is_2xx(int status) {
  return status >= 200 && status < 300;
}

event::ChangeEvent base_event(event::Op op, const IndexName& index, const DocId& id,
                              const std::optional<std::string>& routing, SeqNo seq_no,
                              PrimaryTerm term, const EventContext& ctx) {
  event::ChangeEvent e;
  e.op = op;
  e.index = index;
  e.id = id;
  e.routing = routing;
  e.seq_no = seq_no;
  e.primary_term = term;
  e.epoch = ctx.epoch;
  e.timestamp_ms = ctx.now_ms;
  return e;
}

// An index event when `source` is strict JSON and not rewritten by a
// pipeline, else a reconcile that keeps the primary's seq_no as a hint.
event::ChangeEvent index_or_reconcile(const es::BulkItem& w, const IndexName& index,
                                      const std::optional<std::string>& routing,
                                      std::optional<std::string_view> source, bool pipeline,
                                      const EventContext& ctx) {
  if (source && !pipeline) {
    std::string_view s = event::trim_json_ws(*source);
    if (is_valid_json(s)) {
      auto e = base_event(event::Op::kIndex, index, w.id, routing, w.seq_no, w.primary_term, ctx);
      e.source = std::string(s);
      return e;
    }
  }
  return base_event(event::Op::kReconcile, index, w.id, routing, w.seq_no, w.primary_term, ctx);
}

// The whole post-update document an update answer carries, if any. Only
// when capture injected the request for it, or the client asked for exactly
// the full source, is get._source the document: a source the client shaped
// (_source_includes/_excludes, a field list, an includes/excludes object) is
// a projection of it, and an event built from it would overwrite the
// secondary with a partial document at the primary's version (issue: a
// filtered update left green with only the filtered fields, at a version
// that no backfill could correct).
std::optional<std::string_view> full_update_source(bulk::UpdateSource how, const es::BulkItem& w) {
  bool whole = how == bulk::UpdateSource::kInjected || how == bulk::UpdateSource::kClientAsked;
  if (!whole || !w.get_source) return std::nullopt;
  return std::string_view(*w.get_source);
}

}  // namespace

Outcome doc_outcome(const DocRequest& req, int status, std::string body, const EventContext& ctx) {
  Outcome out;
  if (status == 0) return out;  // never reached the primary
  auto parsed = es::parse_write_response(body);
  if (!parsed.is_ok()) {
    out.client_body = std::move(body);
    if (is_2xx(status)) {
      // Acknowledged but unreadable: settle by reading the primary.
      if (req.id) {
        out.events.push_back(base_event(event::Op::kReconcile, req.index, *req.id, req.routing,
                                        kNoSeqNo, kNoTerm, ctx));
      } else {
        out.marks.push_back({req.index, "acknowledged auto-id write with an unreadable answer"});
      }
    }
    return out;
  }
  es::BulkItem& w = *parsed;
  const IndexName index = w.index.get().empty() ? req.index : w.index;
  if (w.id.get().empty() && req.id) w.id = *req.id;
  bool acked = is_2xx(status) && w.seq_no.get() >= 0 && !w.id.get().empty();
  switch (req.op) {
    case DocOp::kIndex:
    case DocOp::kCreate:
      if (acked) {
        out.events.push_back(
            index_or_reconcile(w, index, req.routing, req.body, req.pipeline, ctx));
      }
      break;
    case DocOp::kUpdate:
      if (acked && w.result != "noop") {
        out.events.push_back(index_or_reconcile(
            w, index, req.routing, full_update_source(req.update_source, w), false, ctx));
      }
      break;
    case DocOp::kDelete:
      if ((is_2xx(status) || (status == 404 && w.result == "not_found")) && w.seq_no.get() >= 0 &&
          !w.id.get().empty()) {
        out.events.push_back(base_event(event::Op::kDelete, index, w.id, req.routing, w.seq_no,
                                        w.primary_term, ctx));
      }
      break;
    case DocOp::kNone:
      break;
  }
  if (req.update_source == bulk::UpdateSource::kInjected && w.has_get) {
    body.erase(w.get_begin, w.get_end - w.get_begin);
  }
  out.client_body = std::move(body);
  return out;
}

Outcome bulk_outcome(const BulkRequest& req, int status, std::string body,
                     const EventContext& ctx) {
  Outcome out;
  if (status == 0) return out;
  if (!is_2xx(status)) {
    // The whole request was refused (400 malformed, 413, 429...): nothing
    // was applied.
    out.client_body = std::move(body);
    return out;
  }
  auto resp = es::parse_bulk_response(body);
  if (!resp.is_ok()) {
    // 2xx yet not a bulk answer: what was applied is unknown.
    if (req.parsed) {
      for (const bulk::Item& it : req.parsed->items) {
        IndexName index = it.index.value_or(IndexName());
        if (it.id) {
          out.events.push_back(
              base_event(event::Op::kReconcile, index, *it.id, it.routing, kNoSeqNo, kNoTerm, ctx));
        } else {
          out.marks.push_back({index, "acknowledged bulk with an unreadable answer"});
        }
      }
    } else {
      out.marks.push_back({IndexName("*"), "acknowledged bulk that tandem could not read"});
    }
    out.client_body = std::move(body);
    return out;
  }
  const std::vector<es::BulkItem>& items = resp->items;
  // The parser admits only the four actions.
  auto action = [](const es::BulkItem& w) {
    return bulk::action_of(w.op).value_or(bulk::Action::kIndex);
  };
  const std::vector<bulk::Item>* reqs = req.parsed ? &req.parsed->items : nullptr;
  auto same_action = [](bulk::Action a, bulk::Action b) {
    auto norm = [](bulk::Action x) {
      return x == bulk::Action::kCreate ? bulk::Action::kIndex : x;
    };
    return norm(a) == norm(b);
  };
  bool aligned = reqs && reqs->size() == items.size();
  for (size_t i = 0; aligned && i < items.size(); ++i) {
    aligned = same_action((*reqs)[i].action, action(items[i]));
  }
  std::vector<bool> strip(items.size(), false);
  for (size_t i = 0; i < items.size(); ++i) {
    const es::BulkItem& w = items[i];
    const bulk::Action act = action(w);
    bool deleted_missing =
        act == bulk::Action::kDelete && w.status == 404 && w.result == "not_found";
    if ((!w.ok() && !deleted_missing) || w.seq_no.get() < 0 || w.id.get().empty()) continue;
    if (act == bulk::Action::kUpdate && w.result == "noop") {
      if (aligned && (*reqs)[i].update_source == bulk::UpdateSource::kInjected) strip[i] = true;
      continue;
    }
    if (!aligned) {
      // Without the request item there is no trustworthy source or routing:
      // reconcile from the primary, and have verify look at the index.
      out.events.push_back(base_event(event::Op::kReconcile, w.index, w.id, std::nullopt, w.seq_no,
                                      w.primary_term, ctx));
      out.marks.push_back({w.index, "bulk item captured without its request line"});
      continue;
    }
    const bulk::Item& q = (*reqs)[i];
    const IndexName index = w.index.get().empty() ? q.index.value_or(IndexName()) : w.index;
    switch (act) {
      case bulk::Action::kIndex:
      case bulk::Action::kCreate:
        out.events.push_back(index_or_reconcile(
            w, index, q.routing,
            std::string_view(req.forwarded).substr(q.source_offset, q.source_length), q.pipeline,
            ctx));
        break;
      case bulk::Action::kUpdate: {
        if (q.update_source == bulk::UpdateSource::kInjected) strip[i] = true;
        out.events.push_back(index_or_reconcile(
            w, index, q.routing, full_update_source(q.update_source, w), false, ctx));
        break;
      }
      case bulk::Action::kDelete:
        out.events.push_back(
            base_event(event::Op::kDelete, index, w.id, q.routing, w.seq_no, w.primary_term, ctx));
        break;
    }
  }
  // Injected "get" members also go when the item failed or was a noop.
  if (aligned) {
    for (size_t i = 0; i < items.size(); ++i) {
      if ((*reqs)[i].update_source == bulk::UpdateSource::kInjected) strip[i] = true;
    }
  }
  bool any_strip = false;
  for (bool s : strip) any_strip = any_strip || s;
  out.client_body = any_strip ? bulk::strip_get_members(body, *resp, strip) : std::move(body);
  return out;
}

std::string meta_payload(const MetaRequest& req, int status, std::string_view response) {
  auto json_or_text = [](std::string& out, std::string_view raw, bool empty_is_null) {
    std::string_view t = event::trim_json_ws(raw);
    if (t.empty() && empty_is_null) {
      out += "null";
    } else if (is_valid_json(t)) {
      out += t;
    } else {
      event::append_json_string(out, raw);
    }
  };
  std::string out = "{\"method\":";
  event::append_json_string(out, req.method);
  out += ",\"path\":";
  event::append_json_string(out, req.target);
  out += ",\"body\":";
  json_or_text(out, req.body, true);
  out += ",\"status\":";
  out += std::to_string(status);
  out += ",\"response\":";
  json_or_text(out, response, true);
  if (req.name) {
    out += ",\"name\":";
    event::append_json_string(out, *req.name);
  }
  out += '}';
  return out;
}

Outcome meta_outcome(const MetaRequest& req, int status, std::string body,
                     const EventContext& ctx) {
  Outcome out;
  if (is_2xx(status)) {
    auto e = base_event(event::Op::kMeta, req.index, DocId(), std::nullopt, kNoSeqNo, kNoTerm, ctx);
    e.meta = meta_payload(req, status, body);
    out.events.push_back(std::move(e));
  }
  out.client_body = std::move(body);
  return out;
}

}  // namespace tandem::proxy::detail
