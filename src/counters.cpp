#include "portcullis/counters.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/errc.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace portcullis {
namespace {

void append_label_value(std::string& out, std::string_view v) {
  // Prometheus label values escape backslash, quote and newline.
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

counter_set::counter_set(std::string_view subsystem, std::string_view instance,
                         std::initializer_list<std::string_view> names)
    : subsystem_(subsystem), instance_(instance), cells_(new cell[names.size()]) {
  if (!detail::is_lower_snake_word(subsystem_))
    throw config_error("counters: subsystem '" + subsystem_ + "' must be [a-z0-9_]+");
  for (auto n : names) {
    if (!detail::is_lower_snake_word(n))
      throw config_error("counters: counter name '" + std::string(n) + "' must be [a-z0-9_]+");
    if (std::find(names_.begin(), names_.end(), n) != names_.end())
      throw config_error("counters: counter '" + std::string(n) + "' is declared twice");
    names_.emplace_back(n);
  }
}

std::uint64_t counter_set::value(std::string_view name) const {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return value(i);
  throw std::out_of_range("counter_set '" + subsystem_ + "' has no counter '" + std::string(name) +
                          "'");
}

void write_prometheus(std::string& out, std::span<const counter_set* const> sets) {
  // Group samples by metric name: the format wants one TYPE line per name
  // and all of a metric's samples together.
  std::map<std::string, std::vector<std::pair<const counter_set*, std::size_t>>> metrics;
  for (const counter_set* s : sets) {
    if (s == nullptr) continue;
    for (std::size_t i = 0; i < s->names().size(); ++i)
      metrics["portcullis_" + s->subsystem() + "_" + s->names()[i] + "_total"].emplace_back(s, i);
  }
  for (const auto& [name, samples] : metrics) {
    out += "# TYPE ";
    out += name;
    out += " counter\n";
    for (const auto& [set, index] : samples) {
      out += name;
      out += "{name=\"";
      append_label_value(out, set->instance());
      out += "\"} ";
      out += std::to_string(set->value(index));
      out.push_back('\n');
    }
  }
}

}  // namespace portcullis
