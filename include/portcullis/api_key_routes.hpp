// portcullis/api_key_routes.hpp — the HTTP routes that let users manage
// their own API keys.
//
//     portcullis::add_api_key_routes(b, {.store = store, .auth = keys,
//                                        .grantable_scopes = {"items:read", "items:write"}});
//
// adds, for a caller signed in with a session (ctx.who.via == session, set
// by your session middleware, which must run before these routes):
//
//   POST   /api-keys        {"name":"ci","scopes":["items:read"],"expires_in":86400,
//                            "max_uses":100}   (every member optional)
//          201 {"id":"key_...","key":"sk_live_...","display":"sk_live_...Qx0a",...}
//          The key is in this answer only; it is sent with Cache-Control: no-store.
//   GET    /api-keys        200 {"keys":[{"id":...,"display":...,"last_used_at":...},...]}
//   DELETE /api-keys/{id}   204, or 404 when the caller has no such live key
//                           (someone else's key is "not found" too)
//
// An API key cannot manage keys (401): a leaked key must not be able to
// mint more. Bad input is 400 with a reason that never echoes it; the
// store failing is 503. Times are Unix seconds.
#pragma once

#include "portcullis/api_key_auth.hpp"
#include "portcullis/api_key_store.hpp"
#include "portcullis/chain.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace portcullis {

struct api_key_routes_options {
  /// Where records are kept. Required.
  std::shared_ptr<api_key_store> store;
  /// The middleware that verifies the keys: its format, hasher, clock and
  /// store timeout are used, and revocations go through it. Required.
  std::shared_ptr<const api_key_auth> auth;
  /// The collection path.
  std::string path = "/api-keys";
  /// The scopes a user may put on a key; a request for any other is 400.
  std::vector<std::string> grantable_scopes;
  /// The tier of a user's new keys (their plan); "default" when unset.
  std::function<std::string(const context&)> tier_of;
  /// Live keys a user may hold; more is 409. Counted before each creation,
  /// so two creations at the same instant may both pass.
  std::size_t max_keys_per_owner = 20;
  /// The longest expires_in accepted, in seconds; 0: keys may live forever.
  std::chrono::seconds max_lifetime{0};
};

/// Adds the three routes to `b`. Throws config_error when the store or the
/// middleware is missing or the path is not absolute.
void add_api_key_routes(chain::builder& b, api_key_routes_options options);

}  // namespace portcullis
