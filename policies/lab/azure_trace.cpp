#include "policies/lab/azure_trace.hpp"

#include "policies/random.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace spry::policies::lab {

namespace {

// Splits a CSV line without quoting (the trace has none: hashes and plain words).
void split(const std::string& line, std::vector<std::string>& out) {
  out.clear();
  size_t pos = 0;
  for (;;) {
    const size_t comma = line.find(',', pos);
    out.push_back(line.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  if (!out.empty() && !out.back().empty() && out.back().back() == '\r')
    out.back().pop_back();
}

uint32_t poisson(random_stream& rng, double mean) {
  if (mean <= 0)
    return 0;
  if (mean > 50) // normal approximation: exact enough for counts this large, and O(1)
    return static_cast<uint32_t>(std::max(0.0, std::round(mean + std::sqrt(mean) * rng.normal())));
  const double limit = std::exp(-mean);
  double p = 1;
  uint32_t k = 0;
  for (;;) {
    p *= rng.uniform();
    if (p <= limit)
      return k;
    ++k;
  }
}

std::string hex(random_stream& rng) {
  static const char digits[] = "0123456789abcdef";
  std::string s(64, '0');
  for (auto& c : s)
    c = digits[rng.below(16)];
  return s;
}

} // namespace

core::expected<azure_trace> read_azure_trace(const std::string& file, size_t max_functions) {
  std::ifstream in(file);
  if (!in)
    return core::make_error(file + ": cannot open: " + std::strerror(errno));
  azure_trace t;
  std::string line;
  std::vector<std::string> cells;
  size_t lineno = 0;
  auto at = [&](const std::string& what) {
    return core::make_error(file + ":" + std::to_string(lineno) + ": " + what);
  };
  if (!std::getline(in, line))
    return core::make_error(file + ":1: empty file (expected the Azure trace header)");
  ++lineno;
  split(line, cells);
  if (cells.size() != 4 + azure_trace::minutes || cells[0] != "HashOwner" ||
      cells[2] != "HashFunction" || cells[4] != "1")
    return at("not an Azure Functions per-minute trace: expected the header HashOwner,HashApp,"
              "HashFunction,Trigger,1,...,1440");
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line == "\r")
      continue;
    split(line, cells);
    if (cells.size() != 4 + azure_trace::minutes)
      return at("expected " + std::to_string(4 + azure_trace::minutes) + " columns, found " +
                std::to_string(cells.size()));
    azure_function_trace f{cells[0], cells[1], cells[2], cells[3], {}};
    f.counts.resize(azure_trace::minutes);
    for (size_t m = 0; m < azure_trace::minutes; ++m) {
      const std::string& c = cells[4 + m];
      char* end = nullptr;
      errno = 0;
      const unsigned long v = std::strtoul(c.c_str(), &end, 10);
      if (c.empty() || *end != '\0' || errno == ERANGE || c[0] == '-' || v > UINT32_MAX)
        return at("minute " + std::to_string(m + 1) + ": expected a count, got '" + c + "'");
      f.counts[m] = static_cast<uint32_t>(v);
    }
    t.functions.push_back(std::move(f));
    if (max_functions && t.functions.size() >= max_functions)
      break;
  }
  if (t.functions.empty())
    return core::make_error(file + ": the trace has no function rows");
  return t;
}

core::status_or_error write_azure_trace(const azure_trace& trace, const std::string& file) {
  std::ofstream out(file);
  if (!out)
    return core::make_error(file + ": cannot write: " + std::strerror(errno));
  out << "HashOwner,HashApp,HashFunction,Trigger";
  for (size_t m = 1; m <= azure_trace::minutes; ++m)
    out << ',' << m;
  out << '\n';
  for (const auto& f : trace.functions) {
    out << f.owner << ',' << f.app << ',' << f.function << ',' << f.trigger;
    for (uint32_t c : f.counts)
      out << ',' << c;
    out << '\n';
  }
  if (!out)
    return core::make_error(file + ": write failed");
  return {};
}

azure_trace synthesize_azure_trace(size_t functions, uint64_t seed) {
  azure_trace t;
  t.functions.reserve(functions);
  for (size_t i = 0; i < functions; ++i) {
    random_stream rng = random_stream::derive(seed, 0xa2a2a2 + i);
    azure_function_trace f;
    f.owner = hex(rng);
    f.app = hex(rng);
    f.function = hex(rng);
    f.counts.assign(azure_trace::minutes, 0);
    // Mean invocations per minute: log10 normal around 10^0.3 (2/min), sd 1 decade, kept within
    // [10^-2.5, 10^3.5]: from a few a day to ~50/s.
    const double log_rate = std::clamp(0.3 + rng.normal(), -2.5, 3.5);
    const double rate = std::pow(10.0, log_rate);
    if (rng.uniform() < 0.3) {
      // Timer: a fixed count every k minutes (k from 1 to 60), phase random.
      f.trigger = "timer";
      const uint32_t periods[] = {1, 2, 5, 10, 15, 30, 60};
      const uint32_t k = periods[rng.below(7)];
      const uint32_t n = std::max<uint32_t>(1, static_cast<uint32_t>(std::round(rate * k)));
      for (size_t m = rng.below(k); m < azure_trace::minutes; m += k)
        f.counts[m] = std::min<uint32_t>(n, 20000);
    } else {
      f.trigger = rng.uniform() < 0.8 ? "http" : "queue";
      const double amplitude = 0.2 + 0.5 * rng.uniform();
      const double peak = rng.uniform() * 1440;
      size_t burst_left = 0;
      double burst_factor = 1;
      for (size_t m = 0; m < azure_trace::minutes; ++m) {
        if (burst_left == 0 && rng.uniform() < 0.003) { // ~4 bursts a day
          burst_left = 2 + rng.below(10);
          burst_factor = 3 + 5 * rng.uniform();
        }
        const double day = 1 + amplitude * std::cos(6.283185307179586 * (m - peak) / 1440.0);
        const double mean = rate * day * (burst_left ? burst_factor : 1.0);
        if (burst_left)
          --burst_left;
        f.counts[m] = poisson(rng, mean);
      }
    }
    t.functions.push_back(std::move(f));
  }
  return t;
}

} // namespace spry::policies::lab
