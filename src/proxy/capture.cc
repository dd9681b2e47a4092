// WriteCapture: the seam the server half calls (write_capture.h). begin() decides,
// journals intents and prepares the request; complete() turns the primary's
// answer into events (capture_events.cc) and hands them to the EventSink
// (durability.cc); the client is answered per the durability mode.
#include "proxy/capture.h"

#include <simdjson.h>

#include <atomic>
#include <deque>
#include <future>
#include <set>

#include "core/scratch.h"
#include "http/http.h"
#include "proxy/bulk.h"
#include "proxy/capture_events.h"
#include "proxy/durability.h"
#include "proxy/es_error.h"
#include "proxy/intents.h"

namespace tandem::proxy {
namespace {

namespace od = simdjson::ondemand;
using Clock = std::chrono::steady_clock;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The request's own top-level "_source" (an update body may carry one,
// and it overrides the URL parameter): nullopt when absent.
std::optional<bool> body_source_flag(std::string_view body) {
  simdjson::padded_string padded(body);
  thread_local od::parser parser;
  const ScratchBound keep_parser(parser);
  od::document doc;
  od::object obj;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(obj)) return std::nullopt;
  std::optional<bool> out;
  for (auto f : obj) {
    od::field field;
    std::string_view key;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) return out;
    if (key == "_source") {
      bool b = false;
      out = !field.value().get_bool().get(b) && b;
    }
  }
  return out;
}

bool has_param(std::string_view query, std::string_view name) {
  return http::query_param(query, name).has_value();
}

bool source_filtered(std::string_view query) {
  // 6.x spelled them without the trailing 's'.
  return has_param(query, "_source_includes") || has_param(query, "_source_excludes") ||
         has_param(query, "_source_include") || has_param(query, "_source_exclude");
}

bool uses_pipeline(std::string_view query) {
  auto p = http::query_param(query, "pipeline");
  return p && !p->empty() && *p != "_none";
}

// First value of a header, by case-insensitive name.
std::optional<std::string_view> find_header(const std::vector<HttpHeader>* headers,
                                            std::string_view name) {
  if (!headers) return std::nullopt;
  for (const HttpHeader& h : *headers) {
    if (h.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; same && i < name.size(); ++i) {
      same = std::tolower(static_cast<unsigned char>(h.name[i])) == name[i];
    }
    if (same) return std::string_view(h.value);
  }
  return std::nullopt;
}

bool non_json_content(const std::vector<HttpHeader>* headers) {
  auto v = find_header(headers, "content-type");
  if (!v) return false;
  std::string lower(*v);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("smile") != std::string::npos || lower.find("cbor") != std::string::npos ||
         lower.find("yaml") != std::string::npos;
}

// Decoded bodies are bounded: the proxy's request limit is 100 MB of
// encoded bytes by default, and a small gzip body can expand without limit.
constexpr uint64_t kMaxDecodedBytes = uint64_t{1} << 30;

// A message body as capture reads it. Clients that accept gzip get gzip
// answers from Elasticsearch, and Logstash/Beats send gzip bulk bodies;
// capture decodes both (http::decode_content). `readable` is false when the
// coding is unknown or the bytes do not decode: then nothing is built from
// the body (events fall back to reconciles, as for any unreadable body).
struct Body {
  http::ContentCoding coding = http::ContentCoding::kIdentity;
  std::string decoded;  // only for a coded body
  std::string_view text;
  bool readable = true;
};

Body read_body(const std::vector<HttpHeader>* headers, std::string_view raw) {
  Body b;
  b.text = raw;
  auto ce = find_header(headers, "content-encoding");
  if (!ce || raw.empty()) return b;
  b.coding = http::parse_content_coding(*ce);
  if (b.coding == http::ContentCoding::kIdentity) return b;
  auto decoded = http::decode_content(b.coding, raw, kMaxDecodedBytes);
  if (!decoded.is_ok()) {
    b.readable = false;
    return b;
  }
  b.decoded = std::move(decoded).value();
  b.text = b.decoded;
  return b;
}

struct TicketState {
  RequestClass cls = RequestClass::kRead;
  uint64_t intent_id = 0;  // 0: none journaled
  detail::DocRequest doc;
  detail::BulkRequest bulk;
  detail::MetaRequest meta;
};

class Capture final : public WriteCapture {
 public:
  Capture(CaptureOptions opts, CaptureTuning tuning, VerificationMarks* marks)
      : opts_(std::move(opts)),
        tuning_(std::move(tuning)),
        marks_(marks),
        epoch_(opts_.epoch.get()) {}
  // The sink goes first, explicitly: its destructor settles in-flight
  // batches, whose callbacks use the intents journal and the marks.
  ~Capture() override { sink_.reset(); }

  Status init(log::Log* log) {
    std::vector<Intent> recovered;
    IntentsOptions io;
    io.dir = opts_.intents_dir;
    io.sync = tuning_.sync_intents;
    TANDEM_ASSIGN_OR_RETURN(intents_, IntentJournal::open(io, &recovered));
    SinkOptions so;
    so.log_deadline = opts_.log_deadline;
    so.spill_deadline = tuning_.spill_deadline;
    so.probe_interval = tuning_.probe_interval;
    so.spill_dir = opts_.spill_dir;
    so.open_spill = tuning_.open_spill;
    // Events no log can take are recorded as needs-verify marks: durable in
    // the state store, shown by verify and read by the cutover gates.
    so.dead_letter = [this](const std::string& index, const std::string& reason) {
      apply_marks({{IndexName(index), "dead letter: " + reason}});
    };
    TANDEM_ASSIGN_OR_RETURN(sink_, EventSink::start(std::move(so), log));
    // At start a spill journal that can't be opened is a configuration
    // error: refuse to run rather than find out during the first log outage.
    // (At run time a failing journal means fail-closed instead.)
    if (!sink_->stats().spill_open) {
      return error(Code::kFailedPrecondition, "spill journal unavailable: " + sink_->fail_reason());
    }
    if (recovered.empty()) return Status::ok();
    // A previous process forwarded these and never saw their events made
    // durable: the primary may have applied them. Reconcile by id; an
    // auto-id item has no id to reconcile, so its index needs verify.
    std::vector<event::ChangeEvent> events;
    for (const Intent& in : recovered) {
      if (in.id) {
        events.push_back(reconcile(in));
      } else {
        Status st = marks_->mark(in.index, "auto-id write in flight at crash");
        if (!st.is_ok()) return st.context("intents recovery: marking " + in.index.get());
      }
    }
    recovered_reconciles_ = events.size();
    if (sink_->publish_and_wait(std::move(events))) {
      TANDEM_RETURN_IF_ERROR(intents_->reset_recovered());
    }
    // Otherwise the events are stranded (the sink is fail-closed and keeps
    // retrying) and the intents stay: a next start reconciles them again.
    return Status::ok();
  }

  void begin_async(const RequestView& req, const Classification& cls, BeginCallback done) override {
    BeginResult out;
    out.ticket.cls = cls;
    if (cls.cls == RequestClass::kRead) return done(std::move(out));
    sweep_abandoned();
    if (!sink_->accepting()) {
      rejected_unavailable_.fetch_add(1);
      out.reply = unavailable("the change log and the spill journal both failed (" +
                              sink_->fail_reason() + "); writes are refused until one recovers");
      return done(std::move(out));
    }
    Body body = read_body(req.headers, req.body);
    if (cls.cls == RequestClass::kMultiDocWrite) return done(begin_multi(body.text, cls));
    auto st = std::make_shared<TicketState>();
    st->cls = cls.cls;
    http::SplitTarget t = http::split_target(req.target);
    std::vector<Intent> intents;
    if (cls.cls == RequestClass::kDocWrite) {
      prepare_doc(req, body, cls, t.query, *st, out.ticket);
      intents.push_back({st->doc.index, st->doc.id, st->doc.routing});
    } else if (cls.cls == RequestClass::kBulk) {
      prepare_bulk(req, body, cls, t.query, *st, out.ticket);
      if (st->bulk.parsed) {
        for (const bulk::Item& it : st->bulk.parsed->items) {
          intents.push_back({it.index.value_or(IndexName()), it.id, it.routing});
        }
      } else {
        intents.push_back({cls.index.value_or(IndexName("*")), std::nullopt, std::nullopt});
      }
    } else {
      prepare_meta(req, body, cls, *st);
    }
    if (intents.empty()) {
      out.ticket.state = st;
      return done(std::move(out));
    }
    // The request's bytes were read above; only the ticket travels on.
    intents_->begin_async(intents, [this, st, out = std::move(out),
                                    done = std::move(done)](Result<uint64_t> id) mutable {
      if (!id.is_ok()) {
        rejected_unavailable_.fetch_add(1);
        out.reply = unavailable("cannot journal write intents: " + id.status().to_string());
        return done(std::move(out));
      }
      st->intent_id = *id;
      out.ticket.state = st;
      done(std::move(out));
    });
  }

  void complete(Ticket ticket, UpstreamAnswer answer, CompleteCallback done) override {
    auto st = std::static_pointer_cast<TicketState>(ticket.state);
    if (!st) return done(std::move(answer.body));
    detail::EventContext ctx{epoch(), wall_ms()};
    // A coded answer (the client accepts gzip) is read decoded. The client
    // gets the primary's own bytes unless capture cut something out; then
    // the cut text is encoded again in the same coding, so the answer still
    // matches its Content-Encoding and Content-Length.
    Body coded = read_body(answer.headers, answer.body);
    std::string original;
    std::string text;
    if (coded.coding == http::ContentCoding::kIdentity || !coded.readable) {
      text = std::move(answer.body);
    } else {
      original = std::move(answer.body);
      text = std::move(coded.decoded);
    }
    const size_t text_size = text.size();
    detail::Outcome oc;
    switch (st->cls) {
      case RequestClass::kDocWrite:
        oc = detail::doc_outcome(st->doc, answer.status, std::move(text), ctx);
        break;
      case RequestClass::kBulk:
        oc = detail::bulk_outcome(st->bulk, answer.status, std::move(text), ctx);
        break;
      case RequestClass::kMetaWrite:
        oc = detail::meta_outcome(st->meta, answer.status, std::move(text), ctx);
        break;
      default:
        oc.client_body = std::move(text);
    }
    if (!original.empty()) {
      // Capture only ever removes bytes, so an unchanged size is an
      // unchanged body.
      auto recoded = oc.client_body.size() == text_size
                         ? Result<std::string>(std::move(original))
                         : http::encode_content(coded.coding, oc.client_body);
      oc.client_body = recoded.is_ok() ? std::move(recoded).value() : std::move(original);
    }
    apply_marks(oc.marks);
    uint64_t intent_id = st->intent_id;
    if (oc.events.empty()) {
      if (intent_id) intents_->done(intent_id);
      return done(std::move(oc.client_body));
    }
    events_emitted_.fetch_add(oc.events.size());
    std::set<std::string> indices;
    for (const event::ChangeEvent& e : oc.events) indices.insert(e.index.get());
    bool release_now =
        opts_.durability == Durability::kAsync && sink_->inflight() < tuning_.max_async_window;
    auto body = std::make_shared<std::string>(std::move(oc.client_body));
    auto client = std::make_shared<CompleteCallback>(std::move(done));
    if (release_now) (*client)(std::move(*body));
    sink_->publish(
        std::move(oc.events), [this, intent_id, indices, body, client, release_now](bool durable) {
          if (durable) {
            if (intent_id) intents_->done(intent_id);
          } else {
            // In memory only until the prober gets them out; the intents stay
            // open so a crash meanwhile still reconciles them.
            std::vector<detail::VerifyMark> m;
            for (const std::string& i : indices) {
              m.push_back({IndexName(i),
                           "captured events stranded in memory: log and spill journal failed"});
            }
            apply_marks(m);
          }
          if (!release_now) (*client)(std::move(*body));
        });
  }

  void abandon(Ticket ticket) override {
    auto st = std::static_pointer_cast<TicketState>(ticket.state);
    if (!st || !st->intent_id) return;
    abandoned_total_.fetch_add(1);
    reconcile_intents(st->intent_id, "auto-id write abandoned mid-flight");
    MutexLock lk(abandon_mu_);
    abandoned_.push_back({st->intent_id, Clock::now() + tuning_.abandon_grace});
  }

  // The server calls this during a role switch with nothing in flight
  // (roles.h), so no request straddles the change.
  Status set_epoch(Epoch e) override {
    epoch_.store(e.get());
    return Status::ok();
  }

  CaptureStatus status() const override {
    const SinkStats s = sink_->stats();
    CaptureStatus c;
    c.durability = opts_.durability;
    c.epoch = Epoch(epoch_.load());
    c.multi_doc = opts_.multi_doc;
    c.events_emitted = events_emitted_.load();
    c.events_logged = s.logged;
    c.spill_depth = s.spill_depth;
    c.spilled_total = s.spilled;
    c.drained_total = s.drained;
    c.spill_reclaimed_total = s.reclaimed;
    c.stranded = s.stranded;
    c.refused_total = s.refused;
    c.dead_letters = s.dead_lettered;
    c.spill_open = s.spill_open;
    c.fail_closed = s.fail_closed;
    c.async_window = s.inflight;
    c.intents_open = intents_->open_intents();
    c.requests_open = intents_->open_requests();
    c.recovered_reconciles = recovered_reconciles_;
    c.abandoned_total = abandoned_total_.load();
    c.rejected_multi_doc = rejected_multi_doc_.load();
    c.rejected_unavailable = rejected_unavailable_.load();
    c.last_error = s.last_error;
    c.marks_failed = marks_failed_.load();
    {
      MutexLock lk(mark_error_mu_);
      c.last_mark_error = last_mark_error_;
    }
    return c;
  }

 private:
  static LocalReply unavailable(const std::string& reason) {
    return {503, es_error_body(503, "tandem_capture_unavailable_exception", reason)};
  }

  BeginResult begin_multi(std::string_view body, const Classification& cls) {
    BeginResult out;
    out.ticket.cls = cls;
    std::string target = cls.index ? cls.index->get() : reindex_dest(body);
    std::string op = cls.endpoint == "reindex" ? "_reindex" : "_" + cls.endpoint;
    if (opts_.multi_doc == MultiDocPolicy::kReject) {
      rejected_multi_doc_.fetch_add(1);
      std::string reason = op + " on [" + target +
                           "] is not captured by tandem: it changes documents without reporting "
                           "each one, so the secondary would silently diverge; run it after "
                           "cutover or set multi_doc_policy: allow (the index will be marked as "
                           "needing verification)";
      out.reply =
          LocalReply{400, es_error_body(400, "tandem_rejected_operation_exception", reason)};
      return out;
    }
    Status st = marks_->mark(IndexName(target), op + " forwarded under multi_doc_policy: allow");
    if (!st.is_ok()) {
      out.reply =
          unavailable("cannot mark [" + target + "] as needing verification: " + st.to_string());
    }
    return out;
  }

  // _reindex names its destination in the body; "*" when unreadable.
  static std::string reindex_dest(std::string_view body) {
    simdjson::padded_string padded(body);
    thread_local od::parser parser;
    const ScratchBound keep_parser(parser);
    od::document doc;
    std::string_view dest;
    if (parser.iterate(padded).get(doc) || doc.at_pointer("/dest/index").get_string().get(dest)) {
      return "*";
    }
    return std::string(dest);
  }

  void prepare_doc(const RequestView& req, const Body& body, const Classification& cls,
                   std::string_view query, TicketState& st, Ticket& ticket) {
    detail::DocRequest& d = st.doc;
    d.op = cls.op;
    d.index = cls.index.value_or(IndexName());
    d.id = cls.id;
    d.routing = http::query_param(query, "routing");
    if (!d.routing) d.routing = http::query_param(query, "parent");  // 6.x parent/child
    d.pipeline = uses_pipeline(query);
    // An unreadable body leaves d.body empty: not JSON, so a reconcile.
    if ((d.op == DocOp::kIndex || d.op == DocOp::kCreate) && body.readable) {
      d.body = std::string(body.text);
    }
    if (d.op != DocOp::kUpdate) return;
    // ES applies the URL's _source, _source_includes and _source_excludes
    // together, and a "_source" in the body replaces all of them; only
    // exactly "the whole source" lets the client keep its get.
    std::optional<bool> asked = body_source_flag(body.text);
    if (asked) {
      d.update_source =
          *asked ? bulk::UpdateSource::kClientAsked : bulk::UpdateSource::kUnavailable;
    } else if (source_filtered(query)) {
      d.update_source = bulk::UpdateSource::kUnavailable;
    } else if (auto p = http::query_param(query, "_source")) {
      d.update_source =
          *p == "true" ? bulk::UpdateSource::kClientAsked : bulk::UpdateSource::kUnavailable;
    } else {
      d.update_source = bulk::UpdateSource::kInjected;
      ticket.rewritten_target = http::add_query_param(req.target, "_source", "true");
    }
  }

  void prepare_bulk(const RequestView& req, const Body& body, const Classification& cls,
                    std::string_view query, TicketState& st, Ticket& ticket) {
    bulk::Defaults d;
    d.index = cls.index;
    d.routing = http::query_param(query, "routing");
    d.source = http::query_param(query, "_source");
    d.source_filtered = source_filtered(query);
    d.pipeline = http::query_param(query, "pipeline");
    if (body.readable && !non_json_content(req.headers)) {
      auto parsed = bulk::parse_request(body.text, d);
      if (parsed.is_ok()) st.bulk.parsed = std::move(parsed).value();
    }
    // Malformed or binary bulks are forwarded unchanged; see bulk_outcome.
    // `forwarded` is what the primary reads (decoded), the source of the
    // events' bytes; a coded body is re-encoded in its own coding.
    if (st.bulk.parsed && st.bulk.parsed->rewritten) {
      st.bulk.forwarded = std::move(*st.bulk.parsed->rewritten);
      st.bulk.parsed->rewritten.reset();
      auto encoded = http::encode_content(body.coding, st.bulk.forwarded);
      if (encoded.is_ok()) {
        ticket.rewritten_body = std::move(encoded).value();
      } else {
        // Cannot happen for a coding we decoded; forward the client's bytes
        // and let the updates reconcile rather than send a body whose
        // bytes contradict its Content-Encoding.
        for (bulk::Item& it : st.bulk.parsed->items) {
          if (it.update_source == bulk::UpdateSource::kInjected) {
            it.update_source = bulk::UpdateSource::kUnavailable;
          }
        }
        st.bulk.parsed.reset();
        st.bulk.forwarded = std::string(body.text);
      }
    } else {
      st.bulk.forwarded = std::string(body.text);
    }
  }

  void prepare_meta(const RequestView& req, const Body& body, const Classification& cls,
                    TicketState& st) {
    detail::MetaRequest& m = st.meta;
    m.method = std::string(req.method);
    m.target = std::string(req.target);
    // The loader replays this body on the secondary, so it must be the
    // decoded text; an undecodable one is carried as-is (a JSON string) and
    // the secondary refuses it visibly.
    m.body = std::string(body.text);
    m.index = cls.index.value_or(IndexName());
    // The payload names templates, data streams and aliases given with
    // their index (/{index}/_alias/{name}); an index-less /_alias/{name}
    // and the other named endpoints (blocks, resize targets) never carried
    // one, and the log format stays as it was.
    const std::string& ep = cls.endpoint;
    if (ep == "template" || ep == "index_template" || ep == "component_template" ||
        ep == "data_stream" || (ep == "alias" && cls.index)) {
      m.name = cls.name;
    }
  }

  event::ChangeEvent reconcile(const Intent& in) const {
    event::ChangeEvent e;
    e.op = event::Op::kReconcile;
    e.index = in.index;
    e.id = *in.id;
    e.routing = in.routing;
    e.epoch = epoch();
    e.timestamp_ms = wall_ms();
    return e;
  }

  void reconcile_intents(uint64_t intent_id, const std::string& auto_id_reason) {
    std::vector<event::ChangeEvent> events;
    std::vector<detail::VerifyMark> m;
    for (const Intent& in : intents_->intents_of(intent_id)) {
      if (in.id) {
        events.push_back(reconcile(in));
      } else {
        m.push_back({in.index, auto_id_reason});
      }
    }
    apply_marks(m);
    events_emitted_.fetch_add(events.size());
    sink_->publish(std::move(events), [](bool) {});
  }

  // Abandoned requests get a second reconcile after the grace period (the
  // primary may apply a timed-out request late); then their intents close.
  void sweep_abandoned() {
    std::vector<uint64_t> due;
    {
      MutexLock lk(abandon_mu_);
      auto now = Clock::now();
      while (!abandoned_.empty() && abandoned_.front().second <= now) {
        due.push_back(abandoned_.front().first);
        abandoned_.pop_front();
      }
    }
    for (uint64_t id : due) {
      std::vector<event::ChangeEvent> events;
      for (const Intent& in : intents_->intents_of(id)) {
        if (in.id) events.push_back(reconcile(in));
      }
      events_emitted_.fetch_add(events.size());
      sink_->publish(std::move(events), [this, id](bool durable) {
        if (durable) intents_->done(id);
      });
    }
  }

  void apply_marks(const std::vector<detail::VerifyMark>& m) {
    std::set<std::pair<std::string, std::string>> seen;
    for (const detail::VerifyMark& v : m) {
      if (!seen.insert({v.index.get(), v.reason}).second) continue;
      Status st = marks_->mark(v.index, v.reason);
      if (!st.is_ok()) {
        // Nothing else can hold this mark; make the failure visible.
        marks_failed_.fetch_add(1);
        MutexLock lk(mark_error_mu_);
        last_mark_error_ = "marking [" + v.index.get() + "] (" + v.reason + "): " + st.to_string();
      }
    }
  }

  Epoch epoch() const { return Epoch(epoch_.load()); }

  CaptureOptions opts_;
  CaptureTuning tuning_;
  VerificationMarks* marks_;
  std::atomic<uint32_t> epoch_;
  // Declared before sink_: the sink's destructor settles in-flight batches,
  // whose callbacks close intents.
  std::unique_ptr<IntentJournal> intents_;
  std::unique_ptr<EventSink> sink_;
  size_t recovered_reconciles_ = 0;  // set in start-up recovery, before the capture is shared
  std::atomic<uint64_t> events_emitted_{0}, abandoned_total_{0};
  std::atomic<uint64_t> rejected_multi_doc_{0}, rejected_unavailable_{0};
  std::atomic<uint64_t> marks_failed_{0};
  mutable Mutex mark_error_mu_;
  std::string last_mark_error_ TANDEM_GUARDED_BY(mark_error_mu_);
  Mutex abandon_mu_;
  std::deque<std::pair<uint64_t, Clock::time_point>> abandoned_ TANDEM_GUARDED_BY(abandon_mu_);
};

}  // namespace

Result<std::unique_ptr<WriteCapture>> make_capture(const CaptureOptions& opts, log::Log* log,
                                                   VerificationMarks* marks,
                                                   const CaptureTuning& tuning) {
  if (!log) return error(Code::kInvalidArgument, "capture: no change log");
  if (!marks) return error(Code::kInvalidArgument, "capture: no verification marks store");
  if (opts.spill_dir.empty() && !tuning.open_spill) {
    return error(Code::kInvalidArgument, "capture: spill_dir is required");
  }
  if (opts.intents_dir.empty())
    return error(Code::kInvalidArgument, "capture: intents_dir is required");
  auto c = std::make_unique<Capture>(opts, tuning, marks);
  TANDEM_RETURN_IF_ERROR(c->init(log).context("capture"));
  return std::unique_ptr<WriteCapture>(std::move(c));
}

Result<std::unique_ptr<WriteCapture>> make_capture(const CaptureOptions& opts, log::Log* log,
                                                   VerificationMarks* marks) {
  return make_capture(opts, log, marks, CaptureTuning{});
}

}  // namespace tandem::proxy
