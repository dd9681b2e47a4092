// Kafka's murmur2, exposed for tests and for anyone who must agree with
// Kafka's default partitioner byte for byte.
#pragma once

#include <cstdint>
#include <string_view>

namespace tandem::event {

// Same value as org.apache.kafka.common.utils.Utils.murmur2(bytes) (signed).
int32_t murmur2(std::string_view data);

}  // namespace tandem::event
