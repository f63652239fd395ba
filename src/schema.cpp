// Building schemas: the factories, the fluent calls, and the checks that a
// schema does not contradict itself.
#include "portcullis/schema.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/detail/schema_node.hpp"
#include "portcullis/errc.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace portcullis {

using detail::schema_kind;
using detail::schema_node;

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& fix) {
  throw config_error("schema: " + what + "; " + fix);
}

std::string number_text(double x) {
  std::ostringstream out;
  out.precision(17);
  out << x;
  return out.str();
}

void require(const schema_node& n, std::initializer_list<schema_kind> kinds, const char* call) {
  if (std::find(kinds.begin(), kinds.end(), n.kind) != kinds.end()) return;
  fail(std::string(call) + " does not apply to " + std::string(detail::kind_word(n)),
       "remove it or apply it to a schema of the right type");
}

std::size_t whole_length(double bound, const char* call) {
  if (!(bound >= 0) || bound != std::floor(bound) || bound > 1e15)
    fail(std::string(call) + " of a length must be a whole number >= 0, not " + number_text(bound),
         "give a whole number");
  return static_cast<std::size_t>(bound);
}

std::size_t code_points(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// The lowest and highest integer a target type holds.
std::pair<double, double> target_range(detail::int_target t) {
  switch (t) {
    case detail::int_target::i32:
      return {-2147483648.0, 2147483647.0};
    case detail::int_target::u32:
      return {0.0, 4294967295.0};
    case detail::int_target::u64:
      return {0.0, 18446744073709551615.0};
    case detail::int_target::i64:
      break;
  }
  return {-9223372036854775808.0, 9223372036854775807.0};
}

// Checks the invariants of one node after a change. Throws config_error.
void seal(schema_node& n) {
  if (n.min_length && n.max_length && *n.min_length > *n.max_length)
    fail("the minimum length (" + std::to_string(*n.min_length) +
             ") is greater than the maximum length (" + std::to_string(*n.max_length) + ")",
         "lower min() or raise max()");

  if (n.kind == schema_kind::string && n.max_length) {
    for (const auto* part : {&n.prefix, &n.suffix})
      if (*part && code_points(**part) > *n.max_length)
        fail("starts_with()/ends_with() text \"" + **part + "\" is longer than max() allows",
             "shorten the text or raise max()");
  }

  if (n.minimum && n.maximum) {
    bool empty = *n.minimum > *n.maximum ||
                 (*n.minimum == *n.maximum && (n.min_exclusive || n.max_exclusive));
    if (n.kind == schema_kind::integer && !empty) {
      double lo = n.min_exclusive ? std::floor(*n.minimum) + 1 : std::ceil(*n.minimum);
      double hi = n.max_exclusive ? std::ceil(*n.maximum) - 1 : std::floor(*n.maximum);
      empty = lo > hi;
    }
    if (empty)
      fail("the bounds " + number_text(*n.minimum) + " and " + number_text(*n.maximum) +
               " leave no " + std::string(detail::kind_word(n)) + " that passes",
           "lower min()/gt() or raise max()/lt()");
  }
  if (n.kind == schema_kind::integer && n.minimum) {
    auto [lo, hi] = target_range(n.target);
    if (*n.minimum > hi || (n.maximum && *n.maximum < lo))
      fail("the bounds lie outside the integer type's range", "widen the type or fix the bounds");
  }

  if (n.depth > detail::max_schema_depth)
    fail("the schema nests deeper than " + std::to_string(detail::max_schema_depth) + " levels",
         "flatten it");

  // A default must pass the very schema it belongs to; checked again after
  // every later call, so `default_value("x").min(3)` fails too.
  if (n.default_value) {
    nlohmann::json copy = *n.default_value;
    auto issues = detail::check_value(n, copy, 1);
    if (!issues.empty())
      fail("the default value " + n.default_value->dump().substr(0, 64) +
               " fails its own schema (" + std::string(issues[0].code) + ": " + issues[0].message +
               ")",
           "change the default or the checks");
  }
}

std::shared_ptr<schema_node> make(schema_kind kind) {
  auto n = std::make_shared<schema_node>();
  n->kind = kind;
  return n;
}

std::size_t child_depth(const std::vector<detail::node_ptr>& nodes) {
  std::size_t d = 0;
  for (const auto& c : nodes) d = std::max(d, c->depth);
  return d;
}

}  // namespace

// ---------------------------------------------------------------------------
// Factories

template <class F>
schema schema::with(F&& change) const {
  auto n = std::make_shared<schema_node>(*node_);
  change(*n);
  seal(*n);
  return schema(std::move(n));
}

schema schema::any() {
  return schema(make(schema_kind::any));
}
schema schema::string() {
  return schema(make(schema_kind::string));
}
schema schema::number() {
  return schema(make(schema_kind::number));
}
schema schema::integer() {
  return schema(make(schema_kind::integer));
}
schema schema::boolean() {
  return schema(make(schema_kind::boolean));
}
schema schema::null() {
  return schema(make(schema_kind::null));
}

namespace {
schema_node int_node(detail::int_target t) {
  schema_node n;
  n.kind = schema_kind::integer;
  n.target = t;
  return n;
}
}  // namespace

schema schema::int32() {
  return schema(std::make_shared<schema_node>(int_node(detail::int_target::i32)));
}
schema schema::uint32() {
  return schema(std::make_shared<schema_node>(int_node(detail::int_target::u32)));
}
schema schema::uint64() {
  return schema(std::make_shared<schema_node>(int_node(detail::int_target::u64)));
}

schema schema::enumeration(std::vector<std::string> values) {
  if (values.empty()) fail("enumeration() has no values", "give at least one value");
  auto n = make(schema_kind::enumeration);
  for (auto& v : values) {
    nlohmann::json j = std::move(v);
    if (std::find(n->values.begin(), n->values.end(), j) != n->values.end())
      fail("enumeration() repeats the value " + j.dump().substr(0, 64), "list each value once");
    n->values.push_back(std::move(j));
  }
  return schema(std::move(n));
}

schema schema::literal(nlohmann::json value) {
  if (value.is_structured() || value.is_binary() || value.is_discarded())
    fail("literal() takes a string, number, boolean or null", "use an object or array schema");
  if (value.is_number_float() && !std::isfinite(value.get<double>()))
    fail("literal() takes a finite number", "use a finite number");
  auto n = make(schema_kind::literal);
  n->values.push_back(std::move(value));
  return schema(std::move(n));
}

schema schema::array(schema element) {
  auto n = make(schema_kind::array);
  n->element = element.node_;
  n->depth = 1 + element.node_->depth;
  seal(*n);
  return schema(std::move(n));
}

schema schema::tuple(std::vector<schema> items) {
  auto n = make(schema_kind::tuple);
  for (auto& s : items) n->items.push_back(s.node_);
  n->depth = 1 + child_depth(n->items);
  seal(*n);
  return schema(std::move(n));
}

schema schema::object(std::vector<std::pair<std::string, schema>> fields) {
  auto n = make(schema_kind::object);
  for (auto& [key, s] : fields) n->fields.push_back({std::move(key), s.node_});
  // Sorted as nlohmann::json sorts its keys, so that validation walks the
  // object and the schema side by side.
  std::sort(n->fields.begin(), n->fields.end(),
            [](const auto& a, const auto& b) { return a.key < b.key; });
  for (std::size_t i = 1; i < n->fields.size(); ++i)
    if (n->fields[i].key == n->fields[i - 1].key)
      fail("object() names the field \"" + n->fields[i].key + "\" twice", "name each field once");
  std::size_t d = 0;
  for (const auto& f : n->fields) d = std::max(d, f.schema->depth);
  n->depth = 1 + d;
  seal(*n);
  return schema(std::move(n));
}

schema schema::record(schema values) {
  auto n = make(schema_kind::record);
  n->element = values.node_;
  n->depth = 1 + values.node_->depth;
  seal(*n);
  return schema(std::move(n));
}

schema schema::record(schema keys, schema values) {
  if (keys.node_->kind != schema_kind::string && keys.node_->kind != schema_kind::enumeration)
    fail("record() keys must be a string or enumeration schema, not " +
             std::string(keys.kind_name()),
         "use schema::string() with checks");
  auto n = make(schema_kind::record);
  n->key_schema = keys.node_;
  n->element = values.node_;
  n->depth = 1 + std::max(keys.node_->depth, values.node_->depth);
  seal(*n);
  return schema(std::move(n));
}

schema schema::union_of(std::vector<schema> options) {
  if (options.empty()) fail("union_of() has no options", "give at least one option");
  auto n = make(schema_kind::union_of);
  for (auto& s : options) n->options.push_back(s.node_);
  n->depth = 1 + child_depth(n->options);
  seal(*n);
  return schema(std::move(n));
}

schema schema::discriminated_union(std::string key, std::vector<schema> options) {
  if (options.empty()) fail("discriminated_union() has no options", "give at least one option");
  auto n = make(schema_kind::union_of);
  n->discriminator = key;
  for (std::size_t i = 0; i < options.size(); ++i) {
    const schema_node& o = *options[i].node_;
    const detail::field* tag = nullptr;
    if (o.kind == schema_kind::object)
      for (const auto& f : o.fields)
        if (f.key == key) tag = &f;
    if (tag == nullptr || tag->schema->optional || tag->schema->default_value ||
        (tag->schema->kind != schema_kind::literal &&
         tag->schema->kind != schema_kind::enumeration))
      fail("option " + std::to_string(i) + " of discriminated_union(\"" + key +
               "\") is not an object with a required literal or enumeration field \"" + key + "\"",
           "give every option that field");
    for (const auto& v : tag->schema->values) {
      for (const auto& [seen, at] : n->tags)
        if (seen == v)
          fail("options " + std::to_string(at) + " and " + std::to_string(i) +
                   " of discriminated_union(\"" + key + "\") share the value " +
                   v.dump().substr(0, 64),
               "give each option its own value");
      n->tags.emplace_back(v, i);
    }
    n->options.push_back(options[i].node_);
  }
  n->depth = 1 + child_depth(n->options);
  seal(*n);
  return schema(std::move(n));
}

// ---------------------------------------------------------------------------
// Bounds

schema schema::min(double bound) const {
  return with([&](schema_node& n) {
    require(n, {schema_kind::string, schema_kind::array, schema_kind::number, schema_kind::integer},
            "min()");
    if (n.kind == schema_kind::string || n.kind == schema_kind::array) {
      n.min_length = whole_length(bound, "min()");
    } else {
      if (!std::isfinite(bound)) fail("min() must be finite", "give a finite bound");
      n.minimum = bound;
      n.min_exclusive = false;
    }
  });
}

schema schema::max(double bound) const {
  return with([&](schema_node& n) {
    require(n, {schema_kind::string, schema_kind::array, schema_kind::number, schema_kind::integer},
            "max()");
    if (n.kind == schema_kind::string || n.kind == schema_kind::array) {
      n.max_length = whole_length(bound, "max()");
    } else {
      if (!std::isfinite(bound)) fail("max() must be finite", "give a finite bound");
      n.maximum = bound;
      n.max_exclusive = false;
    }
  });
}

schema schema::length(std::size_t count) const {
  return with([&](schema_node& n) {
    require(n, {schema_kind::string, schema_kind::array}, "length()");
    n.min_length = count;
    n.max_length = count;
  });
}

schema schema::gt(double bound) const {
  return with([&](schema_node& n) {
    require(n, {schema_kind::number, schema_kind::integer}, "gt()");
    if (!std::isfinite(bound)) fail("gt() must be finite", "give a finite bound");
    n.minimum = bound;
    n.min_exclusive = true;
  });
}

schema schema::lt(double bound) const {
  return with([&](schema_node& n) {
    require(n, {schema_kind::number, schema_kind::integer}, "lt()");
    if (!std::isfinite(bound)) fail("lt() must be finite", "give a finite bound");
    n.maximum = bound;
    n.max_exclusive = true;
  });
}

schema schema::multiple_of(double divisor) const {
  return with([&](schema_node& n) {
    require(n, {schema_kind::number, schema_kind::integer}, "multiple_of()");
    if (!(divisor > 0) || !std::isfinite(divisor))
      fail("multiple_of() needs a divisor > 0, not " + number_text(divisor),
           "give a positive divisor");
    if (n.kind == schema_kind::integer && divisor != std::floor(divisor))
      fail("multiple_of() of an integer needs a whole divisor", "give a whole number");
    n.divisor = divisor;
  });
}

// ---------------------------------------------------------------------------
// String formats and transforms

schema schema::regex(std::string_view pattern) const {
  return with([&](schema_node& n) {
    require(n, {schema_kind::string}, "regex()");
    RE2::Options o;
    o.set_log_errors(false);
    auto re = std::make_shared<const RE2>(re2::StringPiece(pattern.data(), pattern.size()), o);
    if (!re->ok())
      fail("regex() cannot compile /" + std::string(pattern) + "/: " + re->error(),
           "fix the pattern (RE2 syntax: no backreferences or lookaround)");
    n.pattern = std::move(re);
    n.pattern_source = std::string(pattern);
    auto seq = detail::class_sequence::compile(pattern);
    n.pattern_sequence = seq ? std::make_shared<const detail::class_sequence>(*seq) : nullptr;
  });
}

namespace {
void set_format(schema_node& n, detail::string_format f, const char* call) {
  require(n, {schema_kind::string}, call);
  if (n.format != detail::string_format::none && n.format != f)
    fail(std::string(call) + " conflicts with another format on the same string",
         "use one of email(), url(), uuid()");
  n.format = f;
}
}  // namespace

schema schema::email() const {
  return with([](schema_node& n) { set_format(n, detail::string_format::email, "email()"); });
}

schema schema::url(std::vector<std::string> schemes) const {
  return with([&](schema_node& n) {
    set_format(n, detail::string_format::url, "url()");
    if (schemes.empty()) fail("url() has no allowed schemes", "allow at least one scheme");
    for (auto& s : schemes) {
      detail::ascii_lower_in_place(s);
      if (s.empty() ||
          s.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789+-.") != std::string::npos)
        fail("url() scheme \"" + s + "\" is not a scheme", "give schemes such as \"https\"");
    }
    n.url_schemes = std::move(schemes);
  });
}

schema schema::uuid() const {
  return with([](schema_node& n) { set_format(n, detail::string_format::uuid, "uuid()"); });
}

schema schema::starts_with(std::string prefix) const {
  return with([&](schema_node& n) {
    require(n, {schema_kind::string}, "starts_with()");
    n.prefix = std::move(prefix);
  });
}

schema schema::ends_with(std::string suffix) const {
  return with([&](schema_node& n) {
    require(n, {schema_kind::string}, "ends_with()");
    n.suffix = std::move(suffix);
  });
}

schema schema::trim() const {
  return with([](schema_node& n) {
    require(n, {schema_kind::string}, "trim()");
    n.trim = true;
  });
}

schema schema::to_lower() const {
  return with([](schema_node& n) {
    require(n, {schema_kind::string}, "to_lower()");
    if (n.casing == detail::case_map::upper)
      fail("to_lower() and to_upper() on one string", "keep one of them");
    n.casing = detail::case_map::lower;
  });
}

schema schema::to_upper() const {
  return with([](schema_node& n) {
    require(n, {schema_kind::string}, "to_upper()");
    if (n.casing == detail::case_map::lower)
      fail("to_lower() and to_upper() on one string", "keep one of them");
    n.casing = detail::case_map::upper;
  });
}

// ---------------------------------------------------------------------------
// Arrays, objects, modifiers

schema schema::unique() const {
  return with([](schema_node& n) {
    require(n, {schema_kind::array}, "unique()");
    n.unique = true;
  });
}

schema schema::rest(schema element) const {
  return with([&](schema_node& n) {
    require(n, {schema_kind::tuple}, "rest()");
    n.element = element.node_;
    n.depth = std::max(n.depth, 1 + element.node_->depth);
  });
}

schema schema::strict() const {
  return with([](schema_node& n) {
    require(n, {schema_kind::object}, "strict()");
    n.unknown = unknown_keys::strict;
  });
}

schema schema::passthrough() const {
  return with([](schema_node& n) {
    require(n, {schema_kind::object}, "passthrough()");
    n.unknown = unknown_keys::passthrough;
  });
}

schema schema::strip() const {
  return with([](schema_node& n) {
    require(n, {schema_kind::object}, "strip()");
    n.unknown = unknown_keys::strip;
  });
}

schema schema::optional() const {
  return with([](schema_node& n) { n.optional = true; });
}

schema schema::nullable() const {
  return with([](schema_node& n) { n.nullable = true; });
}

schema schema::default_value(nlohmann::json value) const {
  return with([&](schema_node& n) {
    if (n.default_fn) fail("default_value() after default_with()", "keep one default");
    n.default_value = std::move(value);
  });
}

schema schema::default_with(std::function<nlohmann::json()> make) const {
  return with([&](schema_node& n) {
    if (!make) fail("default_with() needs a function", "pass a callable");
    if (n.default_value) fail("default_with() after default_value()", "keep one default");
    n.default_fn = std::move(make);
  });
}

schema schema::refine(std::function<bool(const nlohmann::json&)> check, std::string message) const {
  return with([&](schema_node& n) {
    if (!check) fail("refine() needs a function", "pass a callable");
    if (message.empty()) fail("refine() needs a message", "say what the check wants");
    n.refinements.push_back({std::move(check), std::move(message)});
  });
}

schema schema::coerce() const {
  return with([](schema_node& n) {
    require(n,
            {schema_kind::number, schema_kind::integer, schema_kind::boolean, schema_kind::string},
            "coerce()");
    n.coerce = true;
  });
}

std::string_view schema::kind_name() const noexcept {
  return detail::kind_word(*node_);
}

bool schema::is_object_like() const noexcept {
  return node_->kind == schema_kind::object || node_->kind == schema_kind::record;
}

}  // namespace portcullis
