// Function library of the parking workload (parking.yaml): image detection and charging at a
// parking lot, as published for the SPRIGHT evaluation (SIGCOMM 2022, appendix C, tables 5 and
// 6). Each function burns its published mean CPU service time x SPRY_SERVICE_TIME_SCALE and does
// its (small) real part of the job on the request:
//
//   plate-detection  reads the ~3 KB snapshot, derives a plate number from it
//   plate-search     looks the plate up and branches: topic "new" or "known"
//   plate-index      (new plates) indexes it
//   persist-metadata (new plates) stores its metadata
//   charging         computes the fee and answers with a JSON receipt
//
// so the two published chains are one HTTP route with a branch taken by plate-search (direct
// function routing on topics): ch1 = detection, search, index, persist, charging (plate not yet
// stored), ch2 = detection, search, charging (plate already stored). Findings travel as
// "\nkey=value" lines appended to the snapshot, written in place.
#include "core/function_library.hpp"
#include "examples/synthetic/service_time.hpp"

#include <cstdio>
#include <stdexcept>
#include <string>

namespace {

void append(spry::core::message& m, std::string_view key, std::string_view value) {
  const auto n = m.payload().size();
  const auto add = 1 + key.size() + 1 + value.size();
  if (n + add > m.capacity())
    throw std::length_error("the snapshot and its findings no longer fit the chain's buffer_size");
  char* p = m.data() + n;
  *p++ = '\n';
  p += key.copy(p, key.size());
  *p++ = '=';
  value.copy(p, value.size());
  m.set_length(static_cast<uint32_t>(n + add));
}

// Value of the last "\nkey=" line, or "" if none.
std::string_view finding(std::string_view payload, std::string_view key) {
  const std::string needle = "\n" + std::string(key) + "=";
  const auto at = payload.rfind(needle);
  if (at == std::string_view::npos)
    return {};
  auto v = payload.substr(at + needle.size());
  return v.substr(0, v.find('\n'));
}

void plate_detection(spry::core::message& m) {
  if (m.payload().empty()) {
    m.fail("plate-detection: send a snapshot (the image bytes) in the request body", 400);
    return;
  }
  const uint64_t h = synthetic::digest(m.payload());
  synthetic::burn_service_time(435, h);
  char plate[16];
  std::snprintf(plate, sizeof plate, "%c%c%04u%c", 'A' + static_cast<int>(h % 26),
                'A' + static_cast<int>((h >> 8) % 26), static_cast<unsigned>((h >> 16) % 10000),
                'A' + static_cast<int>((h >> 32) % 26));
  append(m, "plate", plate);
}

void plate_search(spry::core::message& m) {
  const auto plate = finding(m.payload(), "plate");
  if (plate.empty()) {
    m.fail("plate-search: no plate in the request (plate-detection must run first)", 500);
    return;
  }
  const uint64_t h = synthetic::digest(plate);
  synthetic::burn_service_time(20, h);
  // Stands in for the plate database: about half of the plates seen are already stored.
  const bool known = (h >> 7) % 2 == 0;
  append(m, "known", known ? "yes" : "no");
  m.set_topic(known ? "known" : "new");
}

void plate_index(spry::core::message& m) {
  synthetic::burn_service_time(1, synthetic::digest(finding(m.payload(), "plate")));
  append(m, "indexed", "yes");
}

void persist_metadata(spry::core::message& m) {
  synthetic::burn_service_time(10, synthetic::digest(finding(m.payload(), "plate")));
  append(m, "persisted", "yes");
}

void charging(spry::core::message& m) {
  const auto in = m.payload();
  const std::string plate(finding(in, "plate"));
  const bool known = finding(in, "known") == "yes";
  const bool indexed = finding(in, "indexed") == "yes";
  const bool persisted = finding(in, "persisted") == "yes";
  const uint64_t h = synthetic::digest(plate);
  synthetic::burn_service_time(50, h);
  const unsigned cents = 150 + static_cast<unsigned>(h % 8) * 50; // 1.50 .. 5.00
  char out[256];
  std::snprintf(out, sizeof out,
                "{\"plate\":\"%s\",\"known\":%s,\"indexed\":%s,\"persisted\":%s,"
                "\"charge_cents\":%u}",
                plate.c_str(), known ? "true" : "false", indexed ? "true" : "false",
                persisted ? "true" : "false", cents);
  m.write(out);
  m.set_content_type("application/json");
}

} // namespace

SPRY_FUNCTION_LIBRARY(registry) {
  registry.add("parking.plate_detection", plate_detection);
  registry.add("parking.plate_search", plate_search);
  registry.add("parking.plate_index", plate_index);
  registry.add("parking.persist_metadata", persist_metadata);
  registry.add("parking.charging", charging);
}
