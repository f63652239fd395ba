// Fuzz target of API-key parsing: the checks a client's key text goes
// through before any store is asked (is_well_formed_api_key), how a key is
// shown (api_key_display) and the digest's hex form.
//
// Input: byte 0 picks the format, whether the checksum is replaced by the
// right one (so that well-formed keys are reached, not only refused), and
// whether the text also goes through api_key_auth as the values of
// X-API-Key and Authorization (split at the first '\n'; "$K" stands for a
// key that the store holds). Properties, for any bytes:
//  - is_well_formed_api_key equals a reference written from the header:
//    the prefix, the length, base62 after the prefix, and the CRC-32 of
//    everything before the checksum (zlib's, not the library's) as six
//    base62 digits, most significant first;
//  - api_key_display shows at most the prefix and the last four characters
//    of what it was given, and hides at least eight;
//  - to_hex and from_hex round-trip, and from_hex takes exactly 64 hex
//    digits;
//  - api_key_auth answers as the rule in api_key_auth.hpp says: 400 for two
//    different keys, 401 for none, 200 for the stored key and 401 for any
//    other text.
#include "portcullis/api_key.hpp"

#include "support/run_awaitable.hpp"

#include "portcullis/api_key_auth.hpp"
#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"

#include <zlib.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "api_key property broken: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) broken(what);
}

constexpr std::string_view digits62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

std::string checksum(std::string_view text) {
  auto crc = static_cast<std::uint64_t>(
      ::crc32(0, reinterpret_cast<const Bytef*>(text.data()), static_cast<uInt>(text.size())));
  std::string out(6, '0');
  for (std::size_t i = 6; i-- > 0; crc /= 62) out[i] = digits62[crc % 62];
  return out;
}

bool reference_well_formed(std::string_view text, const portcullis::api_key_format& f) {
  if (text.size() != f.prefix.size() + f.random_chars + 6) return false;
  if (!text.starts_with(f.prefix)) return false;
  for (char c : text.substr(f.prefix.size()))
    if (digits62.find(c) == std::string_view::npos) return false;
  return text.substr(text.size() - 6) == checksum(text.substr(0, text.size() - 6));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// A chain with api_key_auth in front of one route, and the one key its
// store holds.
struct auth_app {
  std::string key;
  portcullis::chain app;
};

const auth_app& authenticated() {
  using namespace portcullis;
  static const auth_app a = [] {
    auto store = std::make_shared<memory_api_key_store>();
    api_key_hasher hasher;
    auto issued =
        make_api_key({.owner = "alice"}, api_key_format{}, hasher, system_clock().wall_now());
    test::run(store->create(issued.record));
    auto auth = std::make_shared<api_key_auth>(
        api_key_auth_options{.store = store, .hasher = hasher, .cache_size = 1000});
    chain::builder b;
    b.use("/api", auth);
    b.route(http::verb::get, "/api/me",
            [](request& req, context& ctx) -> asio::awaitable<response> {
              co_return json_response(req, http::status::ok, "\"" + ctx.who.subject + "\"");
            });
    return auth_app{issued.key, std::move(b).build()};
  }();
  return a;
}

std::string with_key(std::string_view text, const std::string& key) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text.substr(i, 2) == "$K") {
      out += key;
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Sends `text` as X-API-Key and/or Authorization and checks the status.
void check_auth(std::uint8_t flags, std::string_view text) {
  using namespace portcullis;
  const auto& a = authenticated();
  const auto nl = text.find('\n');
  const std::string header = with_key(text.substr(0, nl), a.key);
  const std::string authorization =
      nl == std::string_view::npos ? std::string() : with_key(text.substr(nl + 1), a.key);
  const bool send_header = (flags & 1) != 0, send_authorization = (flags & 2) != 0;

  request req{http::verb::get, "/api/me", 11};
  req.set(http::field::host, "a");
  if (send_header) req.set("X-API-Key", header);
  if (send_authorization) req.set(http::field::authorization, authorization);
  context ctx;
  const auto res = run_blocking(a.app, req, ctx);

  // The reference.
  std::optional<std::string_view> from_header, from_bearer;
  if (send_header) from_header = trim(header);
  if (send_authorization) {
    const auto v = trim(authorization);
    if (v.size() > 7 && lower(v.substr(0, 7)) == "bearer ") from_bearer = trim(v.substr(7));
  }
  http::status expected;
  if (from_header && from_bearer && *from_header != *from_bearer) {
    expected = http::status::bad_request;
  } else {
    const auto key = from_header ? from_header : from_bearer;
    expected = key && *key == a.key ? http::status::ok : http::status::unauthorized;
  }
  check(res.result() == expected, "api_key_auth status differs from the reference");
  check(res.result() != http::status::ok || res.body() == "\"alice\"", "wrong identity");
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const portcullis::api_key_format formats[] = {
      {.prefix = "sk_live_", .random_chars = 40},
      {.prefix = "pk_test_", .random_chars = 33},
      {.prefix = "a_", .random_chars = 128},
  };
  const auto& format = formats[(data[0] & 3) % 3];
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 4) != 0 && text.size() > 6)
    text.replace(text.size() - 6, 6, checksum(std::string_view(text).substr(0, text.size() - 6)));

  // The format check against the reference.
  const bool ok = portcullis::is_well_formed_api_key(text, format);
  check(ok == reference_well_formed(text, format), "well-formedness differs from the reference");

  // What a key may be shown as.
  const std::string shown = portcullis::api_key_display(text);
  if (shown != "...") {
    // The prefix may hold "..." itself: the dots are the ones before the tail.
    check(shown.size() >= 7, "display is too short");
    const auto dots = shown.size() - 7;
    check(shown.compare(dots, 3, "...") == 0, "display is not prefix...last4");
    const std::string_view head = std::string_view(shown).substr(0, dots);
    check(head.size() <= 33 && !head.empty() && head.back() == '_', "display prefix is wrong");
    check(std::string_view(text).starts_with(head), "display prefix is not the key's");
    check(std::string_view(text).ends_with(std::string_view(shown).substr(dots + 3)),
          "display tail is not the key's");
    check(text.size() >= head.size() + 4 + 8, "display hides fewer than eight characters");
  }
  if (ok) check(shown == format.prefix + "..." + text.substr(text.size() - 4), "key display");

  // Digests in hex.
  portcullis::api_key_digest d{};
  const bool parsed = portcullis::from_hex(text, d);
  bool all_hex = text.size() == 64;
  for (char c : text) all_hex = all_hex && is_hex(c);
  check(parsed == all_hex, "from_hex accepts what is not 64 hex digits, or refuses them");
  if (parsed) {
    const std::string hex = portcullis::to_hex(d);
    std::string lowered = text;
    for (char& c : lowered)
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    check(hex == lowered, "to_hex(from_hex(x)) is not x in lower case");
    portcullis::api_key_digest again{};
    check(portcullis::from_hex(hex, again) && portcullis::digests_equal(again, d),
          "hex round trip");
  }

  if ((data[0] & 8) != 0) check_auth(static_cast<std::uint8_t>(data[0] >> 4), text);
  return 0;
}
