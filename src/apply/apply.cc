#include "apply/apply.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <utility>

namespace tandem::apply {
namespace {

// After this many "index missing again right after we created it" rounds
// the item is dead-lettered rather than looping (someone keeps deleting it).
constexpr int kMaxIndexMissingRounds = 5;

uint64_t version_of(const Item& it) {
  return it.version ? *it.version : external_version(it.ev.epoch, it.ev.seq_no);
}

std::string where(const event::ChangeEvent& e) {
  return "index '" + e.index.get() + "' id '" + es::sanitize_snippet(e.id.get(), 200) + "'";
}

}  // namespace

Applier::Applier(Sink& sink, state::Store* dlq, Counters& counters, ApplyOptions opts,
                 const std::atomic<bool>* stop)
    : sink_(sink), dlq_(dlq), c_(counters), opts_(std::move(opts)), stop_(stop) {}

Status Applier::stopped() const {
  return Status(Code::kUnavailable, "stopped before the events were applied");
}

bool Applier::sleep_backoff(Backoff& b) {
  auto d = b.next();
  auto until = std::chrono::steady_clock::now() + d;
  // Sleep in slices so a stop request is honoured promptly.
  while (std::chrono::steady_clock::now() < until) {
    if (stop_ && stop_->load()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(50), std::chrono::duration_cast<std::chrono::milliseconds>(
                                           until - std::chrono::steady_clock::now()) +
                                           std::chrono::milliseconds(1)));
  }
  return !(stop_ && stop_->load());
}

Status Applier::dead_letter(const Item& item, std::string type, std::string reason) {
  if (dlq_ == nullptr || !opts_.dead_letter) {
    return Status(Code::kFailedPrecondition, where(item.ev) + ": " + type + ": " + reason);
  }
  state::DeadLetter d;
  d.source = opts_.dlq_source;
  d.index = item.ev.index;
  d.doc_id = item.ev.id;
  d.event = item.encoded.empty() ? event::encode(item.ev) : item.encoded;
  d.error_type = std::move(type);
  d.error_reason = std::move(reason);
  auto r = dlq_->add_dead_letter(d);
  if (!r.is_ok()) return r.status().context("dead-lettering " + where(item.ev));
  ++c_.dead_lettered;
  return Status::ok();
}

Status Applier::ensure_index(const IndexName& idx, bool* obsolete) {
  *obsolete = false;
  Backoff b(opts_.backoff);
  for (;;) {
    Status s = sink_.ensure_index(idx);
    if (s.is_ok() || s.code() == Code::kConflict) return Status::ok();  // exists now
    if (s.code() == Code::kNotFound) {
      *obsolete = true;  // gone on the primary as well: nothing to converge to
      return Status::ok();
    }
    if (!is_retryable(s)) return s.context("creating index '" + idx.get() + "' on the secondary");
    c_.note_retry(s.context("creating index '" + idx.get() + "' on the secondary"));
    if (!sleep_backoff(b)) return stopped();
  }
}

Status Applier::retrying(const std::function<Status()>& f, const std::string& what) {
  Backoff b(opts_.backoff);
  for (;;) {
    Status s = f();
    if (s.is_ok() || !is_retryable(s)) return s;
    c_.note_retry(s.context(what));
    if (!sleep_backoff(b)) return stopped();
  }
}

Status Applier::apply_data(const std::vector<const Item*>& items, std::vector<Settled>* out) {
  std::vector<Settled> fate(items.size(), Settled::kApplied);
  std::vector<size_t> which;
  which.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& e = items[i]->ev;
    if (e.op != event::Op::kIndex && e.op != event::Op::kDelete) {
      return Status(Code::kInternal, "apply_data given a " + std::string(event::op_name(e.op)) +
                                         " event for " + where(e));
    }
    if (e.seq_no.get() < 0 && !items[i]->version) {
      TANDEM_RETURN_IF_ERROR(dead_letter(*items[i], "invalid_event", "event carries no seq_no"));
      fate[i] = Settled::kDeadLettered;
      continue;
    }
    which.push_back(i);
  }
  TANDEM_RETURN_IF_ERROR(apply_bulk(items, fate, which));
  if (out) *out = std::move(fate);
  return Status::ok();
}

Status Applier::apply_bulk(const std::vector<const Item*>& items, std::vector<Settled>& fate,
                           const std::vector<size_t>& which_in) {
  std::vector<size_t> pending;
  {
    // Make sure every index exists on the secondary before writing: a bulk
    // into a missing index would otherwise auto-create it there with
    // dynamic mappings instead of the primary's (the sink caches hits).
    std::map<std::string, bool> obsolete;
    for (size_t i : which_in) obsolete.emplace(items[i]->ev.index.get(), false);
    for (auto& [idx, gone] : obsolete) {
      TANDEM_RETURN_IF_ERROR(ensure_index(IndexName(idx), &gone));
    }
    for (size_t i : which_in) {
      if (obsolete[items[i]->ev.index.get()]) {
        ++c_.obsolete;
        fate[i] = Settled::kObsolete;
      } else {
        pending.push_back(i);
      }
    }
  }
  {
    // Mappings before documents (MappingGuard): a document using a field
    // the secondary was not given from the primary's mapping brings that
    // mapping over first, so the secondary neither refuses it (strict) nor
    // maps the field by its own guess. A mapping the secondary will not take
    // stops nothing here: the documents go, and one that is refused
    // meets the heal below and then the dead letters, with the reason.
    std::map<std::string, std::vector<std::string_view>> sources;
    for (size_t i : pending) {
      if (items[i]->ev.op == event::Op::kIndex) {
        sources[items[i]->ev.index.get()].push_back(items[i]->ev.source);
      }
    }
    for (const auto& entry : sources) {
      // Not a structured binding: clang before 16 cannot capture one.
      const std::string& idx = entry.first;
      const auto& srcs = entry.second;
      Status s = retrying([&] { return sink_.cover_fields(IndexName(idx), srcs); },
                          "mapping of index '" + idx + "'");
      if (s.code() == Code::kUnauthorized || (stop_ && stop_->load())) return s;
    }
  }
  Backoff backoff(opts_.backoff);
  std::map<std::string, int> missing_rounds;
  // Items refused for their mapping that already had their one retry after
  // the mapping was brought from the primary.
  std::set<size_t> healed;
  bool first = true;
  while (!pending.empty()) {
    if (stop_ && stop_->load()) return stopped();
    es::BulkBuilder bb(sink_.bulk_with_type());
    for (size_t i : pending) {
      const auto& e = items[i]->ev;
      es::VersionSpec v{version_of(*items[i])};
      if (e.op == event::Op::kIndex) {
        bb.index(e.index, e.id, e.source, e.routing, v);
      } else {
        bb.remove(e.index, e.id, e.routing, v);
      }
    }
    if (first) c_.bytes += bb.bytes();
    first = false;
    ++c_.bulks;
    auto r = sink_.bulk(bb);
    if (!r.is_ok()) {
      const Status& s = r.status();
      // Too large, or one line the secondary cannot even parse: bisect to
      // isolate the culprit instead of failing the whole batch.
      bool splittable = s.http_status() == 413 || s.http_status() == 400;
      if (splittable && pending.size() > 1) {
        std::vector<size_t> a(pending.begin(), pending.begin() + pending.size() / 2);
        std::vector<size_t> b(pending.begin() + pending.size() / 2, pending.end());
        TANDEM_RETURN_IF_ERROR(apply_bulk(items, fate, a));
        return apply_bulk(items, fate, b);
      }
      if (splittable) {
        TANDEM_RETURN_IF_ERROR(
            dead_letter(*items[pending[0]],
                        s.http_status() == 413 ? "request_too_large" : "bad_request", s.message()));
        fate[pending[0]] = Settled::kDeadLettered;
        return Status::ok();
      }
      if (!is_retryable(s)) return s;
      c_.note_retry(s);
      if (!sleep_backoff(backoff)) return stopped();
      continue;
    }
    if (r->items.size() != pending.size()) {
      // Cannot attribute answers to events: retry the whole request (the
      // versions make a replay harmless).
      c_.note_retry(Status(Code::kProtocol, "bulk answer has " + std::to_string(r->items.size()) +
                                                " items for " + std::to_string(pending.size()) +
                                                " actions; retrying the request"));
      if (!sleep_backoff(backoff)) return stopped();
      continue;
    }
    std::vector<size_t> again;
    std::set<std::string> missing;
    std::map<std::string, std::vector<size_t>> heal;  // index -> items to try once more
    bool throttled = false;
    std::string throttle_why;  // the first throttled item, for progress lines
    for (size_t k = 0; k < pending.size(); ++k) {
      size_t i = pending[k];
      const es::BulkItem& it = r->items[k];
      switch (classify_item(it)) {
        case ItemClass::kDone:
          ++c_.applied;
          ++(items[i]->ev.op == event::Op::kDelete ? c_.deleted : c_.indexed);
          fate[i] = Settled::kApplied;
          break;
        case ItemClass::kAlreadyNewer:
          ++c_.conflicts;
          fate[i] = Settled::kAlreadyNewer;
          break;
        case ItemClass::kIndexMissing: {
          const std::string& idx = items[i]->ev.index.get();
          if (++missing_rounds[idx] > kMaxIndexMissingRounds) {
            TANDEM_RETURN_IF_ERROR(dead_letter(*items[i], it.error_type, it.error_reason));
            fate[i] = Settled::kDeadLettered;
            break;
          }
          missing.insert(idx);
          again.push_back(i);
          break;
        }
        case ItemClass::kRetry:
          if (!throttled) {
            throttle_why = "index '" + items[i]->ev.index.get() + "' id '" +
                           es::sanitize_snippet(items[i]->ev.id.get(), 200) +
                           "': " + std::to_string(it.status) + " " + it.error_type + " " +
                           es::sanitize_snippet(it.error_reason, 300);
          }
          throttled = true;
          again.push_back(i);
          break;
        case ItemClass::kPermanent:
          if (is_mapping_error(it) && healed.insert(i).second) {
            // Possibly a mapping change this loader has not applied yet (in
            // another partition, or another loader's): one more try after
            // the primary's mapping is brought over.
            heal[items[i]->ev.index.get()].push_back(i);
            break;
          }
          TANDEM_RETURN_IF_ERROR(dead_letter(
              *items[i],
              it.error_type.empty() ? "http_" + std::to_string(it.status) : it.error_type,
              it.error_reason));
          fate[i] = Settled::kDeadLettered;
          break;
      }
    }
    for (const auto& idx : missing) {
      bool obsolete = false;
      TANDEM_RETURN_IF_ERROR(ensure_index(IndexName(idx), &obsolete));
      if (!obsolete) continue;
      std::vector<size_t> keep;
      for (size_t i : again) {
        if (items[i]->ev.index.get() == idx) {
          ++c_.obsolete;
          fate[i] = Settled::kObsolete;
        } else {
          keep.push_back(i);
        }
      }
      again.swap(keep);
    }
    for (const auto& entry : heal) {
      const std::string& idx = entry.first;  // captured below: no structured binding
      const auto& which = entry.second;
      Status hs = retrying([&] { return sink_.heal_mapping(IndexName(idx)); },
                           "mapping of index '" + idx + "'");
      if (hs.code() == Code::kUnauthorized || (stop_ && stop_->load())) return hs;
      for (size_t i : which) {
        if (hs.is_ok()) {
          again.push_back(i);
          continue;
        }
        // The mapping could not be brought over: the document's own refusal,
        // with why the heal failed, goes to the dead letters.
        const es::BulkItem& it =
            r->items[std::find(pending.begin(), pending.end(), i) - pending.begin()];
        TANDEM_RETURN_IF_ERROR(dead_letter(
            *items[i], it.error_type,
            it.error_reason + " (bringing the primary's mapping failed: " + hs.message() + ")"));
        fate[i] = Settled::kDeadLettered;
      }
    }
    if (throttled) {
      c_.note_retry(Status(Code::kUnavailable, "secondary bulk item " + throttle_why),
                    again.size());
      if (!sleep_backoff(backoff)) return stopped();
    }
    pending.swap(again);
  }
  return Status::ok();
}

namespace {
// Reads with retries (429, 5xx, connection failures), naming the side on
// a permanent failure.
Result<std::vector<es::Doc>> read_docs(const std::function<Result<std::vector<es::Doc>>()>& f,
                                       Counters& c, const std::function<bool()>& wait,
                                       const std::string& side) {
  for (;;) {
    auto r = f();
    if (r.is_ok()) return r;
    if (!is_retryable(r.status())) return r.status().context("reading documents from the " + side);
    c.note_retry(r.status());
    if (!wait()) return Status(Code::kUnavailable, "stopped before the events were applied");
  }
}

}  // namespace

// Reconcile: the proxy does not know the outcome of a write to (index, id)
// (it crashed between forwarding and logging), so the primary's current
// state is the truth.
//  - The primary has the document: write it with its current seq_no.
//  - The primary lacks it: read the secondary FIRST, then the primary. If
//    the secondary holds version V (from the primary's seq_no s = V-1, or a
//    lower epoch) and the primary, read afterwards, has no document, then
//    the primary deleted it at some seq_no d > s, so d >= s+1; any later
//    recreation gets a seq_no > d. Deleting with version V+1 therefore
//    beats the stale copy, ties or loses to the real delete event, and loses
//    to every later recreation -- whatever order they arrive in. If the
//    secondary moved past V meanwhile, the delete answers 409: a newer state
//    is already there, which is success.
//  - Neither side has it: nothing to write, but a stale backfill copy could
//    still arrive without a tombstone to stop it, so the index is marked as
//    needing verification (verify + repair settles it before cutover).
// Batched, the argument holds per document: every secondary read of the
// batch completes (one _mget) before any primary read starts (another).
Result<Settled> Applier::apply_reconcile(const Item& item) {
  std::vector<Settled> fate;
  TANDEM_RETURN_IF_ERROR(apply_reconciles({&item}, &fate));
  return fate[0];
}

Status Applier::reconcile_docs(const std::vector<es::DocRef>& refs, Epoch epoch,
                               std::vector<Settled>* out) {
  std::vector<Item> items(refs.size());
  std::vector<const Item*> ptrs;
  ptrs.reserve(refs.size());
  for (size_t i = 0; i < refs.size(); ++i) {
    items[i].ev.op = event::Op::kReconcile;
    items[i].ev.index = refs[i].index;
    items[i].ev.id = refs[i].id;
    items[i].ev.routing = refs[i].routing;
    items[i].ev.epoch = epoch;
    ptrs.push_back(&items[i]);
  }
  return apply_reconciles(ptrs, out);
}

Status Applier::apply_reconciles(const std::vector<const Item*>& items, std::vector<Settled>* out) {
  std::vector<Settled> fate(items.size(), Settled::kApplied);
  if (items.empty()) {
    if (out) *out = std::move(fate);
    return Status::ok();
  }
  std::vector<es::DocRef> refs;
  refs.reserve(items.size());
  for (const Item* it : items) refs.push_back({it->ev.index, it->ev.id, it->ev.routing});
  Backoff b(opts_.backoff);
  std::function<bool()> wait = [&] { return sleep_backoff(b); };
  TANDEM_ASSIGN_OR_RETURN(
      auto secondary, read_docs([&] { return sink_.mget_secondary(refs); }, c_, wait, "secondary"));
  TANDEM_ASSIGN_OR_RETURN(auto primary,
                          read_docs([&] { return sink_.mget_primary(refs); }, c_, wait, "primary"));
  if (secondary.size() != items.size() || primary.size() != items.size()) {
    return Status(Code::kInternal, "reconcile read " + std::to_string(secondary.size()) + "/" +
                                       std::to_string(primary.size()) + " documents for " +
                                       std::to_string(items.size()) + " events");
  }
  std::vector<Item> writes;
  std::vector<size_t> write_of;  // index into items
  writes.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& e = items[i]->ev;
    es::Doc& p = primary[i];
    const es::Doc& g = secondary[i];
    Item w;
    w.ev = e;
    w.ev.epoch = opts_.reconcile_epoch.value_or(e.epoch);
    if (p.found) {
      w.ev.op = event::Op::kIndex;
      w.ev.seq_no = p.seq_no;
      w.ev.primary_term = p.primary_term;
      w.ev.source = std::move(p.source);
      if (!w.ev.routing && p.routing) w.ev.routing = p.routing;
    } else if (g.found && g.version > 0) {
      w.ev.op = event::Op::kDelete;
      w.version = static_cast<uint64_t>(g.version) + 1;
    } else {
      if (dlq_ != nullptr) {
        TANDEM_RETURN_IF_ERROR(dlq_->mark_needs_verify(
            e.index, "reconcile of id '" + es::sanitize_snippet(e.id.get(), 200) +
                         "' found it on neither side: no tombstone could be placed"));
      }
      continue;
    }
    writes.push_back(std::move(w));
    write_of.push_back(i);
  }
  std::vector<const Item*> ptrs;
  ptrs.reserve(writes.size());
  for (const Item& w : writes) ptrs.push_back(&w);
  std::vector<Settled> written;
  TANDEM_RETURN_IF_ERROR(apply_data(ptrs, &written));
  for (size_t k = 0; k < written.size(); ++k) fate[write_of[k]] = written[k];
  c_.reconciled += items.size();
  if (out) *out = std::move(fate);
  return Status::ok();
}

Result<Settled> Applier::apply_meta(const Item& item) {
  Backoff b(opts_.backoff);
  for (;;) {
    Status s = sink_.apply_meta(item.ev.meta);
    if (s.is_ok()) {
      ++c_.meta_applied;
      return Settled::kApplied;
    }
    if (is_retryable(s)) {
      c_.note_retry(s.context("meta event"));
      if (!sleep_backoff(b)) return stopped();
      continue;
    }
    if (s.code() == Code::kUnauthorized) return s;
    TANDEM_RETURN_IF_ERROR(dead_letter(item, "meta_apply_failed", s.message()));
    return Settled::kDeadLettered;
  }
}

bool Applier::needs_reconcile(const Item& item) {
  if (item.ev.op != event::Op::kIndex) return false;
  auto r = sink_.primary_rewrites_sources(item.ev.index);
  return !r.is_ok() || *r;
}

Result<Settled> Applier::apply_one(const Item& item) {
  if (needs_reconcile(item)) return apply_reconcile(item);
  switch (item.ev.op) {
    case event::Op::kMeta:
      return apply_meta(item);
    case event::Op::kReconcile:
      return apply_reconcile(item);
    case event::Op::kIndex:
    case event::Op::kDelete: {
      std::vector<const Item*> one{&item};
      std::vector<Settled> fate;
      TANDEM_RETURN_IF_ERROR(apply_data(one, &fate));
      return fate[0];
    }
  }
  return Status(Code::kInternal, "unknown op");
}

}  // namespace tandem::apply

namespace tandem::apply {

void Counters::note_retry(const Status& why, uint64_t n) {
  retries += n;
  MutexLock g(retry_mu_);
  last_retry_ = why.to_string();
  last_retry_at_ = std::chrono::steady_clock::now();
}

std::string Counters::recent_retry(std::chrono::milliseconds recent) const {
  MutexLock g(retry_mu_);
  if (last_retry_.empty() || std::chrono::steady_clock::now() - last_retry_at_ > recent) return "";
  return last_retry_;
}

}  // namespace tandem::apply
