// Loading a schema from its JSON description (docs/validation.md).
#include "portcullis/schema.hpp"

#include "portcullis/errc.hpp"

#include <set>

namespace portcullis {

namespace {

using json = nlohmann::json;

class loader {
 public:
  schema load(const json& d, const std::string& where) {
    if (!d.is_object()) fail(where, "is not an object", "describe each schema as {\"type\": ...}");
    auto t = d.find("type");
    if (t == d.end() || !t->is_string())
      fail(where, "has no \"type\"", "add \"type\": \"string\", \"object\", ...");
    std::string type = *t;

    schema s = base(type, d, where);
    s = checks(type, s, d, where);

    // Modifiers last, so that a default is checked against every check.
    if (flag(d, "optional", where)) s = s.optional();
    if (flag(d, "nullable", where)) s = s.nullable();
    if (flag(d, "coerce", where)) s = wrap(where, [&] { return s.coerce(); });
    if (auto it = d.find("default"); it != d.end())
      s = wrap(where, [&] { return s.default_value(*it); });

    for (const auto& [key, value] : d.items())
      if (!allowed(type).count(key))
        fail(where,
             "has the member \"" + key.substr(0, 64) + "\", which a " + type +
                 " schema does not take",
             "remove it or check its spelling");
    return s;
  }

 private:
  [[noreturn]] static void fail(const std::string& where, const std::string& what,
                                const std::string& fix) {
    throw config_error("schema at " + (where.empty() ? std::string("the root") : where) + ": " +
                       what + "; " + fix);
  }

  // Runs a fluent call, naming the place in the description when it throws.
  template <class F>
  static schema wrap(const std::string& where, F&& call) {
    try {
      return call();
    } catch (const config_error& e) {
      std::string what = e.what();
      if (what.starts_with("schema at ")) throw;  // already names its place
      // system_error appends ": <category message>"; keep our sentence.
      auto tail = what.rfind(": ");
      if (tail != std::string::npos && what.compare(0, 8, "schema: ") == 0)
        what = what.substr(8, tail - 8);
      throw config_error("schema at " + (where.empty() ? std::string("the root") : where) + ": " +
                         what);
    }
  }

  static bool flag(const json& d, const char* key, const std::string& where) {
    auto it = d.find(key);
    if (it == d.end()) return false;
    if (!it->is_boolean())
      fail(where, std::string("\"") + key + "\" is not true or false", "give a boolean");
    return it->get<bool>();
  }

  static double number(const json& d, const char* key, const std::string& where) {
    const json& v = d.at(key);
    if (!v.is_number())
      fail(where, std::string("\"") + key + "\" is not a number", "give a number");
    return v.get<double>();
  }

  static std::string text(const json& d, const char* key, const std::string& where) {
    const json& v = d.at(key);
    if (!v.is_string())
      fail(where, std::string("\"") + key + "\" is not a string", "give a string");
    return v.get<std::string>();
  }

  static const std::set<std::string>& allowed(const std::string& type) {
    static const std::set<std::string> common{"type",    "optional", "nullable",
                                              "default", "coerce",   "description"};
    auto with = [](std::initializer_list<const char*> more) {
      std::set<std::string> s = common;
      for (auto m : more) s.insert(m);
      return s;
    };
    static const std::set<std::string> string_keys =
        with({"min", "max", "length", "pattern", "format", "schemes", "starts_with", "ends_with",
              "trim", "case"});
    static const std::set<std::string> number_keys =
        with({"min", "max", "gt", "lt", "multiple_of"});
    static const std::set<std::string> array_keys =
        with({"items", "min", "max", "length", "unique"});
    static const std::set<std::string> tuple_keys = with({"items", "rest"});
    static const std::set<std::string> object_keys = with({"fields", "unknown"});
    static const std::set<std::string> record_keys = with({"keys", "values"});
    static const std::set<std::string> union_keys = with({"options", "discriminator"});
    static const std::set<std::string> enum_keys = with({"values"});
    static const std::set<std::string> literal_keys = with({"value"});
    if (type == "string") return string_keys;
    if (type == "number" || type == "integer" || type == "int32" || type == "uint32" ||
        type == "uint64")
      return number_keys;
    if (type == "array") return array_keys;
    if (type == "tuple") return tuple_keys;
    if (type == "object") return object_keys;
    if (type == "record") return record_keys;
    if (type == "union") return union_keys;
    if (type == "enum") return enum_keys;
    if (type == "literal") return literal_keys;
    return common;
  }

  schema base(const std::string& type, const json& d, const std::string& where) {
    auto child = [&](const json& sub, const std::string& name) {
      return load(sub, where.empty() ? name : where + "." + name);
    };
    auto require = [&](const char* key) -> const json& {
      auto it = d.find(key);
      if (it == d.end()) fail(where, "a " + type + " schema needs \"" + key + "\"", "add it");
      return *it;
    };

    if (type == "any") return schema::any();
    if (type == "string") return schema::string();
    if (type == "number") return schema::number();
    if (type == "integer") return schema::integer();
    if (type == "int32") return schema::int32();
    if (type == "uint32") return schema::uint32();
    if (type == "uint64") return schema::uint64();
    if (type == "boolean") return schema::boolean();
    if (type == "null") return schema::null();
    if (type == "enum") {
      const json& v = require("values");
      if (!v.is_array()) fail(where, "\"values\" is not an array", "list the strings");
      std::vector<std::string> values;
      for (const auto& e : v) {
        if (!e.is_string()) fail(where, "an enum value is not a string", "use strings");
        values.push_back(e);
      }
      return wrap(where, [&] { return schema::enumeration(std::move(values)); });
    }
    if (type == "literal") return wrap(where, [&] { return schema::literal(require("value")); });
    if (type == "array")
      return wrap(where, [&] { return schema::array(child(require("items"), "items")); });
    if (type == "tuple") {
      const json& items = require("items");
      if (!items.is_array()) fail(where, "a tuple's \"items\" is not an array", "list the schemas");
      std::vector<schema> list;
      for (std::size_t i = 0; i < items.size(); ++i)
        list.push_back(child(items[i], "items." + std::to_string(i)));
      schema s = wrap(where, [&] { return schema::tuple(std::move(list)); });
      if (auto r = d.find("rest"); r != d.end()) s = s.rest(child(*r, "rest"));
      return s;
    }
    if (type == "object") {
      const json& fields = require("fields");
      if (!fields.is_object()) fail(where, "\"fields\" is not an object", "map names to schemas");
      std::vector<std::pair<std::string, schema>> list;
      for (const auto& [name, sub] : fields.items())
        list.emplace_back(name, child(sub, "fields." + name));
      schema s = wrap(where, [&] { return schema::object(std::move(list)); });
      if (auto u = d.find("unknown"); u != d.end()) {
        std::string mode = u->is_string() ? u->get<std::string>() : "";
        if (mode == "strict")
          s = s.strict();
        else if (mode == "passthrough")
          s = s.passthrough();
        else if (mode != "strip")
          fail(where, "\"unknown\" is not \"strip\", \"strict\" or \"passthrough\"", "pick one");
      }
      return s;
    }
    if (type == "record") {
      schema values = child(require("values"), "values");
      if (auto k = d.find("keys"); k != d.end())
        return wrap(where, [&] { return schema::record(child(*k, "keys"), values); });
      return schema::record(values);
    }
    if (type == "union") {
      const json& options = require("options");
      if (!options.is_array()) fail(where, "\"options\" is not an array", "list the schemas");
      std::vector<schema> list;
      for (std::size_t i = 0; i < options.size(); ++i)
        list.push_back(child(options[i], "options." + std::to_string(i)));
      if (auto k = d.find("discriminator"); k != d.end()) {
        std::string key = text(d, "discriminator", where);
        return wrap(where, [&] { return schema::discriminated_union(key, std::move(list)); });
      }
      return wrap(where, [&] { return schema::union_of(std::move(list)); });
    }
    fail(where, "has the unknown type \"" + type.substr(0, 64) + "\"",
         "use string, number, integer, int32, uint32, uint64, boolean, null, any, enum, "
         "literal, array, tuple, object, record or union");
  }

  schema checks(const std::string& type, schema s, const json& d, const std::string& where) {
    auto has = [&](const char* key) { return d.contains(key) && allowed(type).count(key); };
    return wrap(where, [&] {
      if (has("min")) s = s.min(number(d, "min", where));
      if (has("max")) s = s.max(number(d, "max", where));
      if (has("gt")) s = s.gt(number(d, "gt", where));
      if (has("lt")) s = s.lt(number(d, "lt", where));
      if (has("length")) {
        double n = number(d, "length", where);
        if (n < 0 || n != static_cast<double>(static_cast<std::size_t>(n)))
          fail(where, "\"length\" is not a whole number", "give a whole number");
        s = s.length(static_cast<std::size_t>(n));
      }
      if (has("multiple_of")) s = s.multiple_of(number(d, "multiple_of", where));
      if (has("trim") && flag(d, "trim", where)) s = s.trim();
      if (has("case")) {
        std::string c = text(d, "case", where);
        if (c == "lower")
          s = s.to_lower();
        else if (c == "upper")
          s = s.to_upper();
        else
          fail(where, "\"case\" is not \"lower\" or \"upper\"", "pick one");
      }
      if (has("pattern")) s = s.regex(text(d, "pattern", where));
      if (has("starts_with")) s = s.starts_with(text(d, "starts_with", where));
      if (has("ends_with")) s = s.ends_with(text(d, "ends_with", where));
      if (has("format")) {
        std::string f = text(d, "format", where);
        if (f == "email") {
          s = s.email();
        } else if (f == "uuid") {
          s = s.uuid();
        } else if (f == "url") {
          std::vector<std::string> schemes{"http", "https"};
          if (d.contains("schemes")) {
            const json& list = d.at("schemes");
            if (!list.is_array()) fail(where, "\"schemes\" is not an array", "list the schemes");
            schemes.clear();
            for (const auto& e : list) {
              if (!e.is_string()) fail(where, "a scheme is not a string", "use strings");
              schemes.push_back(e);
            }
          }
          s = s.url(std::move(schemes));
        } else {
          fail(where, "\"format\" is not email, url or uuid", "pick one");
        }
      } else if (d.contains("schemes")) {
        fail(where, "\"schemes\" without \"format\": \"url\"", "add the format or remove schemes");
      }
      if (has("unique") && flag(d, "unique", where)) s = s.unique();
      return s;
    });
  }
};

}  // namespace

schema schema::from_json(const nlohmann::json& description) {
  return loader{}.load(description, "");
}

}  // namespace portcullis
