#include "event/event.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "event/murmur2.h"

namespace tandem::event {
namespace {

ChangeEvent index_event() {
  ChangeEvent e;
  e.op = Op::kIndex;
  e.index = IndexName("products");
  e.id = DocId("42");
  e.seq_no = SeqNo(17);
  e.primary_term = PrimaryTerm(1);
  e.epoch = Epoch(0);
  e.timestamp_ms = 1732300000000;
  e.source =
      R"({"name":"caf\u00e9 \"crème\"","price":1.0e+300,"big":12345678901234567890,"tags":[ "a" , "b" ]})";
  return e;
}

std::string golden(const std::string& name) {
  auto path = std::filesystem::path(__FILE__).parent_path() / "golden" / name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing golden file " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  // Golden files end with one newline for the benefit of editors; it is
  // not part of the envelope.
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// --- murmur2 / partitioning -------------------------------------------------

TEST(Murmur2, MatchesKafkaUtilsTestVectors) {
  // org.apache.kafka.common.utils.UtilsTest#testMurmur2
  EXPECT_EQ(murmur2("21"), -973932308);
  EXPECT_EQ(murmur2("foobar"), -790332482);
  EXPECT_EQ(murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(murmur2("abc"), 479470107);
  // Each tail length (0..3 leftover bytes), from Kafka's own murmur2.
  EXPECT_EQ(murmur2("1"), -1993445489);
  EXPECT_EQ(murmur2("12"), 126087238);
  EXPECT_EQ(murmur2("123"), -267702483);
  EXPECT_EQ(murmur2("1234"), -1614185708);
  EXPECT_EQ(murmur2("12345"), -1188365604);
  EXPECT_EQ(murmur2(""), 275646681);
}

TEST(Murmur2, PartitionIsToPositiveModN) {
  // Utils.toPositive clears the sign bit; it is not abs().
  EXPECT_EQ(partition_for("21", 8), (-973932308 & 0x7fffffff) % 8);
  EXPECT_EQ(partition_for("foobar", 12), (-790332482 & 0x7fffffff) % 12);
  for (int i = 0; i < 1000; ++i) {
    int32_t p = partition_for("key-" + std::to_string(i), 7);
    EXPECT_GE(p, 0);
    EXPECT_LT(p, 7);
  }
  EXPECT_EQ(partition_for("x", 1), 0);
}

TEST(PartitionKey, IndexSlashRoutingOrId) {
  ChangeEvent e = index_event();
  EXPECT_EQ(partition_key(e), "products/42");
  e.routing = "user-7";
  EXPECT_EQ(partition_key(e), "products/user-7");
  e.routing = "";  // ES treats an empty routing as none
  EXPECT_EQ(partition_key(e), "products/42");
  // Every op on one document shares a key.
  ChangeEvent d = e;
  d.op = Op::kDelete;
  d.source.clear();
  EXPECT_EQ(partition_key(d), partition_key(e));
  ChangeEvent m;
  m.op = Op::kMeta;
  m.index = IndexName("products");
  EXPECT_EQ(partition_key(m), "products");
}

TEST(RequestPartitions, DataEventsOfOneRequestShareTheFirstOnesPartition) {
  std::vector<ChangeEvent> req;
  std::set<int32_t> by_key;
  for (int i = 0; i < 100; ++i) {
    ChangeEvent e = index_event();
    e.id = DocId("doc-" + std::to_string(i));
    if (i % 7 == 3) e.op = Op::kDelete;
    by_key.insert(partition_for(partition_key(e), 8));
    req.push_back(e);
  }
  ASSERT_GT(by_key.size(), 1u) << "the keys alone would spread the request";
  auto parts = request_partitions(req, 8);
  ASSERT_EQ(parts.size(), req.size());
  for (int32_t p : parts) EXPECT_EQ(p, partition_for(partition_key(req[0]), 8));
  // One data event: exactly its own key's partition (single-document
  // writes are placed as before).
  auto one = request_partitions({req[5]}, 8);
  EXPECT_EQ(one, std::vector<int32_t>{partition_for(partition_key(req[5]), 8)});
  EXPECT_TRUE(request_partitions({}, 8).empty());
}

TEST(RequestPartitions, MetaEventsKeepTheirIndexPartitionAndDoNotAnchor) {
  ChangeEvent m;
  m.op = Op::kMeta;
  m.index = IndexName("products");
  ChangeEvent a = index_event();
  a.id = DocId("a");
  ChangeEvent b = index_event();
  b.id = DocId("b");
  auto parts = request_partitions({m, a, b}, 16);
  EXPECT_EQ(parts[0], partition_for("products", 16));
  EXPECT_EQ(parts[1], partition_for("products/a", 16));
  EXPECT_EQ(parts[2], parts[1]);
  // Across requests the anchor follows the keys, so requests spread.
  std::set<int32_t> seen;
  for (int i = 0; i < 200; ++i) {
    ChangeEvent e = index_event();
    e.id = DocId("first-" + std::to_string(i));
    seen.insert(request_partitions({e, b}, 8)[0]);
  }
  EXPECT_EQ(seen.size(), 8u);
}

// --- golden encodings ----------------------------------------------------------

TEST(Golden, IndexEvent) {
  EXPECT_EQ(encode(index_event()), golden("index.json"));
  auto d = decode(golden("index.json"));
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(*d, index_event());
}

TEST(Golden, DeleteWithRouting) {
  ChangeEvent e;
  e.op = Op::kDelete;
  e.index = IndexName("logs-2024.11");
  e.id = DocId("a\"b\\c\n\x01");
  e.routing = "tenant-9";
  e.seq_no = SeqNo(281474976710654);
  e.primary_term = PrimaryTerm(3);
  e.epoch = Epoch(2);
  e.timestamp_ms = 1732300000123;
  EXPECT_EQ(encode(e), golden("delete.json"));
  auto d = decode(golden("delete.json"));
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(*d, e);
}

TEST(Golden, ReconcileWithBinaryId) {
  ChangeEvent e;
  e.op = Op::kReconcile;
  e.index = IndexName("products");
  e.id = DocId(std::string("\xff\xfe\x00id", 5));
  e.timestamp_ms = 1732300000456;
  EXPECT_EQ(encode(e), golden("reconcile_id_b64.json"));
  auto d = decode(golden("reconcile_id_b64.json"));
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(*d, e);
}

TEST(Golden, MetaEvent) {
  ChangeEvent e;
  e.op = Op::kMeta;
  e.index = IndexName("products");
  e.epoch = Epoch(1);
  e.timestamp_ms = 1732300000789;
  e.meta =
      R"({"method":"PUT","path":"/products/_mapping","body":{"properties":{"price":{"type":"double"}}},"status":200,"response":{"acknowledged":true}})";
  EXPECT_EQ(encode(e), golden("meta.json"));
  auto d = decode(golden("meta.json"));
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(*d, e);
}

// --- encoding details ------------------------------------------------------------

TEST(Encode, IsOneLine) {
  ChangeEvent e = index_event();
  e.id = DocId("line1\nline2\r\t");
  e.source = "{\n  \"a\": 1\n}";
  std::string s = encode(e);
  // Newlines inside source are the primary's bytes; the envelope itself
  // adds none and escapes every control char in strings.
  EXPECT_NE(s.find("\"id\":\"line1\\u000aline2\\u000d\\u0009\""), std::string::npos) << s;
}

TEST(Encode, EscapesAndReplacesInvalidUtf8InStrings) {
  std::string out;
  append_json_string(out, std::string("a\"\\/\x7f\x1f\xc3\xa9", 8));
  EXPECT_EQ(out, std::string("\"a\\\"\\\\/\x7f\\u001f\xc3\xa9\""));
  out.clear();
  append_json_string(out, "ok\xc3(\xed\xa0\x80z");  // truncated seq, surrogate
  EXPECT_EQ(out, "\"ok\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz\"");
  EXPECT_TRUE(simdjson::validate_utf8(out));
}

TEST(Encode, SourceSurroundingWhitespaceIsNotPartOfIt) {
  ChangeEvent e = index_event();
  e.source = " \n{\"a\":1}\t ";
  auto d = decode(encode(e));
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->source, "{\"a\":1}");
}

TEST(Encode, EmptySourceIsNull) {
  ChangeEvent e = index_event();
  e.source.clear();
  std::string s = encode(e);
  EXPECT_NE(s.find("\"source\":null}"), std::string::npos);
  auto d = decode(s);
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(*d, e);
}

TEST(Encode, ExtremeNumbersRoundTrip) {
  ChangeEvent e = index_event();
  e.seq_no = SeqNo(INT64_MAX);
  e.primary_term = PrimaryTerm(INT64_MIN);
  e.epoch = Epoch(UINT32_MAX);
  e.timestamp_ms = -1;
  auto d = decode(encode(e));
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(*d, e);
}

// --- decode errors -----------------------------------------------------------------

void expect_error(std::string_view in, Code code, std::string_view needle) {
  auto d = decode(in);
  ASSERT_FALSE(d.is_ok()) << in;
  EXPECT_EQ(d.status().code(), code) << d.status().to_string();
  EXPECT_NE(d.status().message().find(needle), std::string::npos)
      << "\"" << d.status().message() << "\" should mention " << needle;
}

TEST(Decode, UnsupportedVersionIsInvalidArgument) {
  expect_error(R"({"v":2,"op":"frobnicate"})", Code::kInvalidArgument, "version 2");
  expect_error(R"({"op":"index","v":0})", Code::kInvalidArgument, "\"v\"");
}

TEST(Decode, MalformedIsCorruptionNamingTheField) {
  const std::string base = encode(index_event());
  expect_error("", Code::kCorruption, "invalid JSON");
  expect_error("[1,2]", Code::kCorruption, "object");
  expect_error(base.substr(0, base.size() - 3), Code::kCorruption, "change event");
  expect_error(base + "x", Code::kCorruption, "change event");
  expect_error(base + " {}", Code::kCorruption, "change event");
  expect_error(R"({"op":"index"})", Code::kCorruption, "\"v\"");
  expect_error(R"({"v":"1"})", Code::kCorruption, "\"v\"");
  expect_error(
      R"({"v":1,"op":"upsert","index":"i","id":"1","seq_no":1,"primary_term":1,"epoch":0,"ts":0})",
      Code::kCorruption, "\"op\"");
  expect_error(R"({"v":1,"op":"delete","id":"1","seq_no":1,"primary_term":1,"epoch":0,"ts":0})",
               Code::kCorruption, "\"index\"");
  expect_error(R"({"v":1,"op":"delete","index":"i","seq_no":1,"primary_term":1,"epoch":0,"ts":0})",
               Code::kCorruption, "\"id\"");
  expect_error(
      R"({"v":1,"op":"delete","index":"i","id":"1","seq_no":"x","primary_term":1,"epoch":0,"ts":0})",
      Code::kCorruption, "\"seq_no\"");
  expect_error(
      R"({"v":1,"op":"delete","index":"i","id":"1","seq_no":1,"primary_term":1,"epoch":-1,"ts":0})",
      Code::kCorruption, "\"epoch\"");
  expect_error(
      R"({"v":1,"op":"delete","index":"i","id":"1","seq_no":1,"primary_term":1,"epoch":0,"ts":0,"id":"2"})",
      Code::kCorruption, "duplicate");
  expect_error(
      R"({"v":1,"op":"delete","index":"i","id_b64":"!!!!","seq_no":1,"primary_term":1,"epoch":0,"ts":0})",
      Code::kCorruption, "\"id_b64\"");
  expect_error(
      R"({"v":1,"op":"index","index":"i","id":"1","seq_no":1,"primary_term":1,"epoch":0,"ts":0})",
      Code::kCorruption, "\"source\"");
  expect_error(
      R"({"v":1,"op":"delete","index":"i","id":"1","seq_no":1,"primary_term":1,"epoch":0,"ts":0,"source":{}})",
      Code::kCorruption, "\"source\"");
  expect_error(
      R"({"v":1,"op":"meta","index":"i","id":"","seq_no":-1,"primary_term":-1,"epoch":0,"ts":0})",
      Code::kCorruption, "\"meta\"");
  expect_error(
      R"({"v":1,"op":"index","index":"i","id":"1","seq_no":1,"primary_term":1,"epoch":0,"ts":0,"source":{"a":[1,2}})",
      Code::kCorruption, "change event");
  expect_error("{\"v\":1,\"op\":\"index\",\"index\":\"\xff\"}", Code::kCorruption, "change event");
}

TEST(Decode, AcceptsAnyFieldOrderAndIgnoresUnknownFields) {
  auto d = decode(
      R"({ "ts" : 5 , "future_field" : {"x":[1,2,3]}, "source" : {"k" : "v"} , "epoch":1,"primary_term":2,"seq_no":3,"routing":"r","id":"7","index":"ix","op":"index","v":1 })");
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(d->source, R"({"k" : "v"})");
  EXPECT_EQ(d->routing, "r");
  EXPECT_EQ(d->id.get(), "7");
  EXPECT_EQ(d->timestamp_ms, 5);
}

TEST(Decode, ScalarAndArraySourcesAreVerbatim) {
  for (std::string src :
       {"[1, 2 ,3]", "\"just a string\\u00e9\"", "12345678901234567890123", "true", "-0.0E-00"}) {
    ChangeEvent e = index_event();
    e.source = src;
    auto d = decode(encode(e));
    ASSERT_TRUE(d.is_ok()) << src << ": " << d.status().to_string();
    EXPECT_EQ(d->source, src);
  }
}

// --- property: byte-exact source round trip -----------------------------------------

class JsonGen {
 public:
  explicit JsonGen(uint64_t seed) : rng_(seed) {}

  std::string value(int depth) {
    int kind = pick(depth > 4 ? 5 : 7);
    switch (kind) {
      case 0:
        return number();
      case 1:
        return string();
      case 2:
        return pick(2) ? "true" : "false";
      case 3:
        return "null";
      case 4:
        return number();
      case 5:
        return object(depth + 1);
      default:
        return array(depth + 1);
    }
  }
  std::string object(int depth) {
    std::string s = "{" + ws();
    int n = pick(5);
    for (int i = 0; i < n; ++i) {
      if (i) s += "," + ws();
      s += string() + ws() + ":" + ws() + value(depth) + ws();
    }
    return s + "}";
  }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  std::string ws() {
    static const char* kWs[] = {"", "", "", " ", "\n", "\t", "\r\n  ", "   "};
    return kWs[pick(8)];
  }
  std::string array(int depth) {
    std::string s = "[" + ws();
    int n = pick(5);
    for (int i = 0; i < n; ++i) {
      if (i) s += "," + ws();
      s += value(depth) + ws();
    }
    return s + "]";
  }
  std::string number() {
    static const char* kNums[] = {"0",        "-0",   "1.0e+300", "12345678901234567890",
                                  "-1E-7",    "3.14", "1e400",    "123456789012345678901234567890",
                                  "0.000001", "-42",  "2.50",     "9007199254740993"};
    return kNums[pick(12)];
  }
  std::string string() {
    static const char* kParts[] = {
        "abc",         "\\u00e9",  "\\uD83D\\uDE00",   "\\\"",    "\\\\",    "\\/",
        "\\n\\t",      "\xc3\xa9", "\xf0\x9f\x98\x80", "\\u0000", "\\u2028", " ",
        "\xe2\x82\xac"};
    std::string s = "\"";
    int n = pick(5);
    for (int i = 0; i < n; ++i) s += kParts[pick(13)];
    return s + "\"";
  }
  std::mt19937_64 rng_;
};

TEST(Property, SourceRoundTripsByteForByte) {
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    JsonGen gen(seed);
    ChangeEvent e = index_event();
    e.source = gen.object(0);
    e.id = DocId("id-" + std::to_string(seed));
    if (seed % 3 == 0) e.routing = "r\xc3\xa9" + std::to_string(seed);
    std::string enc = encode(e);
    auto d = decode(enc);
    ASSERT_TRUE(d.is_ok()) << "seed " << seed << ": " << d.status().to_string() << "\n" << enc;
    ASSERT_EQ(d->source, e.source) << "seed " << seed;
    ASSERT_EQ(*d, e) << "seed " << seed;
    // Decoding again from a re-encoding is a fixed point.
    ASSERT_EQ(encode(*d), enc);
  }
}

TEST(Property, ArbitraryIdsRoundTrip) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string id(std::uniform_int_distribution<int>(0, 40)(rng), '\0');
    for (auto& c : id) c = static_cast<char>(rng() & 0xff);
    ChangeEvent e = index_event();
    e.id = DocId(id);
    e.routing = (i % 2) ? std::optional<std::string>("r") : std::nullopt;
    auto d = decode(encode(e));
    ASSERT_TRUE(d.is_ok()) << d.status().to_string();
    ASSERT_EQ(d->id, e.id);
    ASSERT_EQ(*d, e);
  }
}

TEST(Property, GarbageNeverCrashesDecode) {
  std::mt19937_64 rng(11);
  const std::string base = encode(index_event());
  for (int i = 0; i < 5000; ++i) {
    std::string s = base;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) s[rng() % s.size()] = static_cast<char>(rng() & 0xff);
    auto d = decode(s);
    if (!d.is_ok()) {
      EXPECT_TRUE(d.status().code() == Code::kCorruption ||
                  d.status().code() == Code::kInvalidArgument)
          << d.status().to_string();
    }
  }
}

}  // namespace
}  // namespace tandem::event
