// Status and Result<T>: expected failures are values that carry context.
//
// Why not exceptions: failures in tandem (an unreachable cluster, a 409, a
// torn log record) are ordinary outcomes that callers branch on. A Status
// names what failed -- cluster, index, id, offset, HTTP status -- so the
// message that reaches the user is actionable without a stack trace.
// Exceptions thrown by third-party libraries are caught at the component
// boundary and turned into a Status there.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tandem {

enum class Code {
  kOk = 0,
  kInvalidArgument,    // bad input from the user or a caller
  kNotFound,           // index / document / file does not exist
  kConflict,           // version conflict (409); often success for tandem
  kUnavailable,        // cannot connect, connection reset, 5xx, 429
  kTimeout,            // connect or request deadline passed
  kTls,                // TLS handshake / verification failure
  kUnauthorized,       // 401 / 403
  kProtocol,           // peer spoke something unexpected (non-JSON, not ES)
  kIo,                 // local file-system failure
  kCorruption,         // checksum mismatch, torn record
  kResourceExhausted,  // disk full, queue full, body too large
  kFailedPrecondition, // wrong state (directory locked, fail-closed ...)
  kInternal,           // a bug: an invariant that should have held
};

std::string_view code_name(Code c);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  bool is_ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // HTTP status when the failure came from an HTTP answer, else 0.
  int http_status() const { return http_status_; }
  Status& with_http_status(int s) {
    http_status_ = s;
    return *this;
  }

  // Prepends context: Status(kIo, "disk full").context("log segment /x")
  // reads "log segment /x: disk full".
  Status context(std::string_view what) const;

  // "<code>: <message>" -- one line, suitable for a CLI error.
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
  int http_status_ = 0;
};

inline Status error(Code c, std::string msg) { return Status(c, std::move(msg)); }

// Result<T>: either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status s) : v_(std::move(s)) {      // NOLINT: implicit by design
    assert(!std::get<Status>(v_).is_ok() && "Result constructed from an ok Status");
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }

  const Status& status() const {
    static const Status kOkStatus;
    return is_ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & {
    assert(is_ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    assert(is_ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(is_ok());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace tandem

// Early return helpers; keep call sites flat (leveldb's `if (s.ok())` style
// without the nesting).
#define TANDEM_RETURN_IF_ERROR(expr)          \
  do {                                        \
    ::tandem::Status _st = (expr);            \
    if (!_st.is_ok()) return _st;             \
  } while (0)

#define TANDEM_CONCAT_INNER(a, b) a##b
#define TANDEM_CONCAT(a, b) TANDEM_CONCAT_INNER(a, b)
#define TANDEM_ASSIGN_OR_RETURN(lhs, expr) \
  TANDEM_ASSIGN_OR_RETURN_IMPL(TANDEM_CONCAT(_res_, __LINE__), lhs, expr)
#define TANDEM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.is_ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
