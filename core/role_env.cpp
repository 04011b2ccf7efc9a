#include "core/role_env.hpp"

#include <cstdlib>
#include <stdexcept>

namespace spry::core {

role_env read_role_env(const char* variable) {
  role_env out;
  const char* v = std::getenv(variable);
  if (!v)
    return out;
  out.present = true;
  const std::string s(v);
  size_t pos = 0;
  while (pos < s.size()) {
    const auto end = s.find(';', pos);
    const auto item = s.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? s.size() : end + 1;
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      out.error = std::string(variable) + " is malformed at '" + item + "': '" + s + "'";
      return out;
    }
    out.values[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

long role_number(const std::map<std::string, std::string>& role, const std::string& key) {
  auto i = role.find(key);
  if (i == role.end())
    throw std::invalid_argument("missing " + key);
  size_t used = 0;
  const long v = std::stol(i->second, &used);
  if (used != i->second.size())
    throw std::invalid_argument("bad " + key);
  return v;
}

std::string role_list(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i)
      out += ',';
    for (char c : items[i]) {
      if (c == '%')
        out += "%25";
      else if (c == ';')
        out += "%3B";
      else if (c == ',')
        out += "%2C";
      else
        out += c;
    }
  }
  return out;
}

std::vector<std::string> parse_role_list(const std::string& value) {
  std::vector<std::string> out;
  if (value.empty())
    return out;
  std::string item;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == ',') {
      out.push_back(std::move(item));
      item.clear();
    } else if (c == '%' && value.compare(i, 3, "%25") == 0) {
      item += '%';
      i += 2;
    } else if (c == '%' && value.compare(i, 3, "%3B") == 0) {
      item += ';';
      i += 2;
    } else if (c == '%' && value.compare(i, 3, "%2C") == 0) {
      item += ',';
      i += 2;
    } else {
      item += c;
    }
  }
  out.push_back(std::move(item));
  return out;
}

} // namespace spry::core
