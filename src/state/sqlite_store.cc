// SQLite implementation of state::Store.
//
// Durability: WAL journal + synchronous=FULL, so every committed statement
// is fsync'd before the call returns and survives kill -9 and power loss.
// busy_timeout lets two tandem processes (e.g. a backfill and a loader) share
// one file: SQLite serialises writers, we wait instead of failing.
//
// Schema versions live in PRAGMA user_version; migrations are applied in
// order inside one transaction each. A file whose application_id is not
// tandem's, or that SQLite cannot read, is refused with the path named --
// never recreated, because that would silently forget checkpoints and dead
// letters.
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>

#include "core/mutex.h"
#include "state/state.h"

namespace tandem::state {
namespace {

// "tndm" -- marks the file as ours (PRAGMA application_id).
constexpr int kApplicationId = 0x746e646d;

// Each entry moves the schema from version i to i+1. Append only.
const char* const kMigrations[] = {
    // v1
    "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE checkpoints (job TEXT NOT NULL, idx TEXT NOT NULL, slice INTEGER NOT NULL,"
    "  state TEXT NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (job, idx, slice));"
    "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL,"
    "  idx TEXT NOT NULL, doc_id BLOB NOT NULL, event BLOB NOT NULL, error_type TEXT NOT NULL,"
    "  error_reason TEXT NOT NULL, created INTEGER NOT NULL, attempts INTEGER NOT NULL);"
    "CREATE TABLE verify_marks (idx TEXT PRIMARY KEY, reason TEXT NOT NULL,"
    "  created INTEGER NOT NULL);",
};
constexpr int kSchemaVersion = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// RAII prepared statement with typed binders.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& text(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& blob(int i, std::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& i64(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(s_); }
  std::string col_text(int i) {
    const void* p = sqlite3_column_blob(s_, i);
    int n = sqlite3_column_bytes(s_, i);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }
  int64_t col_i64(int i) { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  ~SqliteStore() override { sqlite3_close_v2(db_); }

  Status init() {
    MutexLock g(mu_);  // not shared yet; taken for the lock annotations
    TANDEM_RETURN_IF_ERROR(exec("PRAGMA busy_timeout=10000"));
    // Reading the header is the first thing that fails on a foreign or
    // corrupt file ("file is not a database").
    auto app = pragma_int("application_id");
    if (!app.is_ok()) return not_ours(app.status().message());
    auto ver = pragma_int("user_version");
    if (!ver.is_ok()) return not_ours(ver.status().message());
    auto tables = count_tables();
    if (!tables.is_ok()) return not_ours(tables.status().message());
    if (*app != kApplicationId) {
      if (*app != 0 || *tables != 0) {
        return not_ours("application_id is " + std::to_string(*app) + ", not tandem's");
      }
    }
    if (*ver > kSchemaVersion) {
      return Status(Code::kFailedPrecondition,
                    "state file " + path_ + " has schema version " + std::to_string(*ver) +
                        ", newer than this tandem understands (" + std::to_string(kSchemaVersion) +
                        "): upgrade tandem");
    }
    auto jm = exec("PRAGMA journal_mode=WAL");
    if (!jm.is_ok()) return not_ours(jm.message());
    TANDEM_RETURN_IF_ERROR(exec("PRAGMA synchronous=FULL"));
    for (int v = static_cast<int>(*ver); v < kSchemaVersion; ++v) {
      TANDEM_RETURN_IF_ERROR(exec("BEGIN IMMEDIATE"));
      Status s = exec(kMigrations[v]);
      if (s.is_ok()) s = exec("PRAGMA user_version=" + std::to_string(v + 1));
      if (s.is_ok()) s = exec("PRAGMA application_id=" + std::to_string(kApplicationId));
      if (!s.is_ok()) {
        (void)exec("ROLLBACK");
        return s.context("migrating state file " + path_ + " to schema v" + std::to_string(v + 1));
      }
      TANDEM_RETURN_IF_ERROR(exec("COMMIT"));
    }
    // A full integrity check is O(file); quick_check catches torn pages and
    // garbage cheaply, which is what a crash or a wrong file produces.
    auto qc = quick_check();
    if (!qc.is_ok()) return not_ours(qc.message());
    return Status::ok();
  }

  Status put(std::string_view key, std::string_view value) override {
    MutexLock g(mu_);
    Stmt st(db_,
            "INSERT INTO kv(key,value) VALUES(?,?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value");
    if (!st.ok()) return db_error("put");
    st.text(1, key).text(2, value);
    return done(st.step(), "put key '" + std::string(key) + "'");
  }

  Result<std::optional<std::string>> get(std::string_view key) override {
    MutexLock g(mu_);
    Stmt st(db_, "SELECT value FROM kv WHERE key=?");
    if (!st.ok()) return db_error("get");
    st.text(1, key);
    int rc = st.step();
    if (rc == SQLITE_ROW) return std::optional<std::string>(st.col_text(0));
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    return db_error("get key '" + std::string(key) + "'");
  }

  Result<bool> compare_and_put(std::string_view key, std::optional<std::string_view> expected,
                               std::string_view value) override {
    MutexLock g(mu_);
    // One statement each: SQLite serializes writers across processes, so
    // the check and the write cannot interleave with another store's.
    if (!expected) {
      Stmt st(db_, "INSERT INTO kv(key,value) VALUES(?,?) ON CONFLICT(key) DO NOTHING");
      if (!st.ok()) return db_error("compare_and_put");
      st.text(1, key).text(2, value);
      TANDEM_RETURN_IF_ERROR(done(st.step(), "compare_and_put key '" + std::string(key) + "'"));
    } else {
      Stmt st(db_, "UPDATE kv SET value=? WHERE key=? AND value=?");
      if (!st.ok()) return db_error("compare_and_put");
      st.text(1, value).text(2, key).text(3, *expected);
      TANDEM_RETURN_IF_ERROR(done(st.step(), "compare_and_put key '" + std::string(key) + "'"));
    }
    return sqlite3_changes(db_) == 1;
  }

  Status save_checkpoint(std::string_view job, const IndexName& index, int slice,
                         std::string_view state_json) override {
    MutexLock g(mu_);
    Stmt st(db_,
            "INSERT INTO checkpoints(job,idx,slice,state,updated) VALUES(?,?,?,?,?) "
            "ON CONFLICT(job,idx,slice) DO UPDATE SET state=excluded.state,"
            "updated=excluded.updated");
    if (!st.ok()) return db_error("save_checkpoint");
    st.text(1, job).text(2, index.get()).i64(3, slice).text(4, state_json).i64(5, now_ms());
    return done(st.step(), "checkpoint job '" + std::string(job) + "' index '" + index.get() +
                               "' slice " + std::to_string(slice));
  }

  Result<std::optional<std::string>> load_checkpoint(std::string_view job, const IndexName& index,
                                                     int slice) override {
    MutexLock g(mu_);
    Stmt st(db_, "SELECT state FROM checkpoints WHERE job=? AND idx=? AND slice=?");
    if (!st.ok()) return db_error("load_checkpoint");
    st.text(1, job).text(2, index.get()).i64(3, slice);
    int rc = st.step();
    if (rc == SQLITE_ROW) return std::optional<std::string>(st.col_text(0));
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    return db_error("load checkpoint");
  }

  Result<int64_t> add_dead_letter(const DeadLetter& d) override {
    MutexLock g(mu_);
    Stmt st(db_,
            "INSERT INTO dead_letters(source,idx,doc_id,event,error_type,error_reason,"
            "created,attempts) VALUES(?,?,?,?,?,?,?,?)");
    if (!st.ok()) return db_error("add_dead_letter");
    st.text(1, d.source).text(2, d.index.get()).blob(3, d.doc_id.get()).blob(4, d.event);
    st.text(5, d.error_type).text(6, d.error_reason);
    st.i64(7, d.created_ms ? d.created_ms : now_ms()).i64(8, d.attempts);
    TANDEM_RETURN_IF_ERROR(done(st.step(), "dead letter for index '" + d.index.get() + "'"));
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
  }

  Result<std::vector<DeadLetter>> dead_letters(size_t limit) override {
    MutexLock g(mu_);
    Stmt st(db_,
            "SELECT id,source,idx,doc_id,event,error_type,error_reason,created,attempts "
            "FROM dead_letters ORDER BY id LIMIT ?");
    if (!st.ok()) return db_error("dead_letters");
    st.i64(1, static_cast<int64_t>(limit));
    std::vector<DeadLetter> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      DeadLetter d;
      d.id = st.col_i64(0);
      d.source = st.col_text(1);
      d.index = IndexName(st.col_text(2));
      d.doc_id = DocId(st.col_text(3));
      d.event = st.col_text(4);
      d.error_type = st.col_text(5);
      d.error_reason = st.col_text(6);
      d.created_ms = st.col_i64(7);
      d.attempts = static_cast<int>(st.col_i64(8));
      out.push_back(std::move(d));
    }
    if (rc != SQLITE_DONE) return db_error("listing dead letters");
    return out;
  }

  Status remove_dead_letter(int64_t id) override {
    MutexLock g(mu_);
    Stmt st(db_, "DELETE FROM dead_letters WHERE id=?");
    if (!st.ok()) return db_error("remove_dead_letter");
    st.i64(1, id);
    TANDEM_RETURN_IF_ERROR(done(st.step(), "removing dead letter " + std::to_string(id)));
    if (sqlite3_changes(db_) == 0) {
      return Status(Code::kNotFound,
                    "state file " + path_ + ": no dead letter with id " + std::to_string(id));
    }
    return Status::ok();
  }

  Result<int64_t> count_dead_letters() override {
    MutexLock g(mu_);
    Stmt st(db_, "SELECT COUNT(*) FROM dead_letters");
    if (!st.ok() || st.step() != SQLITE_ROW) return db_error("count_dead_letters");
    return st.col_i64(0);
  }

  Status mark_needs_verify(const IndexName& index, std::string_view reason) override {
    MutexLock g(mu_);
    // The first reason is kept: it is the one that explains the mark.
    Stmt st(db_,
            "INSERT INTO verify_marks(idx,reason,created) VALUES(?,?,?) "
            "ON CONFLICT(idx) DO NOTHING");
    if (!st.ok()) return db_error("mark_needs_verify");
    st.text(1, index.get()).text(2, reason).i64(3, now_ms());
    return done(st.step(), "verify mark for index '" + index.get() + "'");
  }

  Result<std::vector<VerifyMark>> needs_verify() override {
    MutexLock g(mu_);
    Stmt st(db_, "SELECT idx,reason,created FROM verify_marks ORDER BY idx");
    if (!st.ok()) return db_error("needs_verify");
    std::vector<VerifyMark> out;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      out.push_back(VerifyMark{IndexName(st.col_text(0)), st.col_text(1), st.col_i64(2)});
    }
    if (rc != SQLITE_DONE) return db_error("listing verify marks");
    return out;
  }

  Status clear_needs_verify(const IndexName& index) override {
    MutexLock g(mu_);
    Stmt st(db_, "DELETE FROM verify_marks WHERE idx=?");
    if (!st.ok()) return db_error("clear_needs_verify");
    st.text(1, index.get());
    return done(st.step(), "clearing verify mark for index '" + index.get() + "'");
  }

 private:
  Status not_ours(const std::string& why) const {
    return Status(Code::kCorruption,
                  "state file " + path_ + " is not a tandem state store (or is corrupt): " + why +
                      "; move it aside to start over -- that forgets checkpoints and dead letters");
  }
  Status db_error(const std::string& what) const TANDEM_REQUIRES(mu_) {
    Code c = sqlite3_errcode(db_) == SQLITE_FULL ? Code::kResourceExhausted : Code::kIo;
    return Status(c, "state file " + path_ + ": " + what + ": " + sqlite3_errmsg(db_));
  }
  Status done(int rc, const std::string& what) const TANDEM_REQUIRES(mu_) {
    return rc == SQLITE_DONE ? Status::ok() : db_error(what);
  }
  Status exec(const std::string& sql) TANDEM_REQUIRES(mu_) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return Status::ok();
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    Code c = (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) ? Code::kCorruption : Code::kIo;
    return Status(c, "state file " + path_ + ": " + msg);
  }
  Result<int64_t> pragma_int(const char* name) TANDEM_REQUIRES(mu_) {
    Stmt st(db_, (std::string("PRAGMA ") + name).c_str());
    if (!st.ok()) return db_error(name);
    if (st.step() != SQLITE_ROW) return db_error(name);
    return st.col_i64(0);
  }
  Result<int64_t> count_tables() TANDEM_REQUIRES(mu_) {
    Stmt st(db_, "SELECT COUNT(*) FROM sqlite_master");
    if (!st.ok() || st.step() != SQLITE_ROW) return db_error("reading the schema");
    return st.col_i64(0);
  }
  Status quick_check() TANDEM_REQUIRES(mu_) {
    Stmt st(db_, "PRAGMA quick_check");
    if (!st.ok()) return db_error("quick_check");
    if (st.step() != SQLITE_ROW) return db_error("quick_check");
    std::string r = st.col_text(0);
    if (r != "ok") return Status(Code::kCorruption, "quick_check: " + r);
    return Status::ok();
  }

  std::string path_;
  Mutex mu_;
  sqlite3* db_ TANDEM_GUARDED_BY(mu_);
};

}  // namespace

Result<std::unique_ptr<Store>> open_store(const std::string& path) {
  if (path.empty()) return Status(Code::kInvalidArgument, "state file path is empty");
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    return Status(Code::kNotFound,
                  "state file " + path + ": directory " + parent.string() + " does not exist");
  }
  if (std::filesystem::is_directory(path, ec)) {
    return Status(Code::kInvalidArgument, "state file " + path + " is a directory");
  }
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Status(Code::kIo, "state file " + path + ": cannot open: " + msg);
  }
  auto store = std::make_unique<SqliteStore>(path, db);
  TANDEM_RETURN_IF_ERROR(store->init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace tandem::state
