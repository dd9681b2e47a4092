// Credentials and TLS settings read from the environment.
//
// Secrets reach tandem only through environment variables or files named by
// them -- never argv, which `ps` shows to every user on the host. Errors name
// the variable or the file and never the value.
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "http/http.h"

namespace tandem::http {
namespace {

// The variable's value, or nullopt when unset or empty (an empty variable is
// almost always an unset one exported by a wrapper script).
std::optional<std::string> env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

// CR, LF and NUL could split or truncate the header a secret ends up in.
bool has_control_chars(const std::string& s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos;
}

// Reads a secret file named by the variable `var`, dropping trailing line
// breaks (editors and `echo` add one).
Result<std::string> read_secret_file(const std::string& var, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return error(Code::kIo, "cannot read " + var + " file '" + path + "': " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return error(Code::kIo, "cannot read " + var + " file '" + path + "'");
  std::string value = ss.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) {
    return error(Code::kInvalidArgument, var + " file '" + path + "' is empty");
  }
  return value;
}

// Reads <base> or <base>_FILE; nullopt when neither is set. Setting both is
// an error because one of them would be silently ignored.
Result<std::optional<std::string>> secret_from(const std::string& base) {
  const std::string file_var = base + "_FILE";
  auto direct = env(base);
  auto file = env(file_var);
  if (direct && file) {
    return error(Code::kInvalidArgument,
                 "both " + base + " and " + file_var + " are set; set only one");
  }
  std::string value;
  std::string source = base;
  if (direct) {
    value = *direct;
  } else if (file) {
    TANDEM_ASSIGN_OR_RETURN(value, read_secret_file(file_var, *file));
    source = file_var + " ('" + *file + "')";
  } else {
    return std::optional<std::string>();
  }
  // The value goes into an HTTP header (API keys and tokens verbatim); a
  // stray CR/LF would split the header.
  if (has_control_chars(value)) {
    return error(Code::kInvalidArgument, source + " contains control characters");
  }
  return std::optional<std::string>(std::move(value));
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < in.size()) {
    uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

Result<Credentials> Credentials::from_env(const std::string& prefix) {
  const std::string user_var = prefix + "_USERNAME";
  const std::string pass_var = prefix + "_PASSWORD";
  const std::string key_var = prefix + "_API_KEY";
  const std::string token_var = prefix + "_BEARER_TOKEN";

  auto username = env(user_var);
  TANDEM_ASSIGN_OR_RETURN(auto password, secret_from(pass_var));
  TANDEM_ASSIGN_OR_RETURN(auto api_key, secret_from(key_var));
  TANDEM_ASSIGN_OR_RETURN(auto token, secret_from(token_var));

  int kinds = (username || password ? 1 : 0) + (api_key ? 1 : 0) + (token ? 1 : 0);
  if (kinds > 1) {
    return error(Code::kInvalidArgument, "more than one kind of credentials is set for " + prefix +
                                             ": use either " + user_var + "/" + pass_var + ", or " +
                                             key_var + ", or " + token_var);
  }

  Credentials c;
  if (username || password) {
    if (!username) {
      return error(Code::kInvalidArgument,
                   pass_var + " is set but " + user_var + " is not; set both");
    }
    if (!password) {
      return error(Code::kInvalidArgument,
                   user_var + " is set but neither " + pass_var + " nor " + pass_var + "_FILE is");
    }
    // RFC 7617: the user-id of Basic auth cannot contain ':'.
    if (username->find(':') != std::string::npos || has_control_chars(*username)) {
      return error(Code::kInvalidArgument,
                   user_var + " must not contain ':' or control characters");
    }
    c.kind = Kind::kBasic;
    c.username = *username;
    c.secret = Secret(std::move(*password));
  } else if (api_key) {
    c.kind = Kind::kApiKey;
    c.secret = Secret(std::move(*api_key));
  } else if (token) {
    c.kind = Kind::kBearer;
    c.secret = Secret(std::move(*token));
  }
  return c;
}

std::string Credentials::authorization_header() const {
  switch (kind) {
    case Kind::kNone:
      return "";
    case Kind::kBasic:
      return "Basic " + base64(username + ":" + secret.reveal());
    case Kind::kApiKey:
      // Elasticsearch hands out the encoded form ("base64(id:key)"); it is
      // sent exactly as given.
      return "ApiKey " + secret.reveal();
    case Kind::kBearer:
      return "Bearer " + secret.reveal();
  }
  return "";
}

TlsOptions TlsOptions::from_env(const std::string& prefix) {
  TlsOptions t;
  t.ca_file = env(prefix + "_CA_FILE").value_or("");
  t.cert_file = env(prefix + "_CERT_FILE").value_or("");
  t.key_file = env(prefix + "_KEY_FILE").value_or("");
  std::string insecure = env(prefix + "_INSECURE").value_or("");
  for (char& ch : insecure) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  t.insecure = insecure == "1" || insecure == "true" || insecure == "yes" || insecure == "on";
  return t;
}

std::string env_prefix_for(std::string_view label) {
  std::string p = "TANDEM_";
  for (unsigned char c : label) {
    if (c >= 'a' && c <= 'z') {
      p.push_back(static_cast<char>(c - 'a' + 'A'));
    } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      p.push_back(static_cast<char>(c));
    } else {
      p.push_back('_');
    }
  }
  return p;
}

}  // namespace tandem::http
