#include <fstream>
#include <string>

#include "cli/cli.h"

namespace tandem::cli {
namespace {

// Reads librdkafka properties from a Java-style properties file: key=value
// per line, '#' comments. Values are never echoed in errors.
Status read_properties(const std::string& path, std::map<std::string, std::string>& out) {
  std::ifstream in(path);
  if (!in) return error(Code::kNotFound, "cannot read Kafka config file " + path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) {
      return error(Code::kInvalidArgument, path + ":" + std::to_string(n) + ": expected key=value");
    }
    auto trim = [](std::string s) {
      const auto b = s.find_first_not_of(" \t\r");
      const auto e = s.find_last_not_of(" \t\r");
      return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    out[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return Status::ok();
}

}  // namespace

void LogFlags::add_to(CLI::App& cmd) {
  cmd.add_option("--log-dir", dir,
                 "Embedded file log directory (read next to the proxy that writes it)");
  cmd.add_option("--kafka", brokers, "Kafka bootstrap servers, host:port[,host:port]");
  cmd.add_option("--topic", topic, "Kafka topic of change events")->capture_default_str();
  cmd.add_option("--kafka-config", kafka_config,
                 "librdkafka properties file (security.protocol, sasl.*, ssl.*, ...)");
  cmd.add_option("--partitions", partitions, "Partitions when creating the Kafka topic")
      ->capture_default_str();
}

Result<log::KafkaLogOptions> kafka_options(const LogFlags& flags) {
  log::KafkaLogOptions o;
  o.brokers = flags.brokers;
  o.topic = flags.topic;
  o.partitions = flags.partitions;
  if (!flags.kafka_config.empty()) {
    TANDEM_RETURN_IF_ERROR(read_properties(flags.kafka_config, o.properties));
  }
  for (const auto& [k, v] : flags.properties) o.properties[k] = v;
  return o;
}

Result<std::unique_ptr<log::Log>> open_log(const LogFlags& flags) {
  if (!flags.brokers.empty() && !flags.dir.empty()) {
    return error(Code::kInvalidArgument, "give either --log-dir or --kafka, not both");
  }
  if (!flags.brokers.empty()) {
    TANDEM_ASSIGN_OR_RETURN(log::KafkaLogOptions o, kafka_options(flags));
    return log::open_kafka_log(o);
  }
  if (flags.dir.empty()) {
    return error(Code::kInvalidArgument,
                 "no change log given: use --log-dir DIR or --kafka HOST:PORT");
  }
  // Every command that takes these flags only reads the log (load, backfill,
  // log stats|tail|dump); the file log's writer is `tandem proxy`. So open
  // it as a shared reader: it works next to a running proxy, never creates
  // or repairs the log, and takes the partition count from the log itself.
  log::FileLogOptions o;
  o.dir = flags.dir;
  o.shared_reader = true;
  return log::open_file_log(o);
}

}  // namespace tandem::cli
