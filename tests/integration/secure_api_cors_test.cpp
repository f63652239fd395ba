// CORS on the reference server over real HTTP: the origins of its
// configuration get the grant on every answer (a 401 included), others get
// none, and preflights are answered before any route.
#include "support/reference_server.hpp"

#include <gtest/gtest.h>

namespace portcullis {
namespace {

namespace bh = boost::beast::http;

TEST(secure_api_cors, grants_follow_the_configured_origins) {
  test::reference_server srv{
      R"({"threads": 1, "allowed_origins": ["https://app.example.com", "https://*.example.org"]})"};

  for (auto origin : {"https://app.example.com", "https://a.example.org"}) {
    SCOPED_TRACE(origin);
    auto ok = srv.request(bh::verb::get, "/health", "", {{"Origin", origin}});
    EXPECT_EQ(ok.result(), bh::status::ok);
    EXPECT_EQ(ok[bh::field::access_control_allow_origin], origin);
    EXPECT_NE(ok[bh::field::access_control_expose_headers].find("RateLimit-Remaining"),
              std::string::npos);
    EXPECT_NE(ok[bh::field::vary].find("Origin"), std::string::npos);

    // An error from behind cors is still readable by the page.
    auto denied = srv.request(bh::verb::get, "/profile", "", {{"Origin", origin}});
    EXPECT_EQ(denied.result(), bh::status::unauthorized);
    EXPECT_EQ(denied[bh::field::access_control_allow_origin], origin);

    auto pre = srv.request(bh::verb::options, "/profile", "",
                           {{"Origin", origin},
                            {"Access-Control-Request-Method", "PATCH"},
                            {"Access-Control-Request-Headers", "authorization,content-type"}});
    EXPECT_EQ(pre.result(), bh::status::no_content);
    EXPECT_EQ(pre[bh::field::access_control_allow_origin], origin);
    EXPECT_EQ(pre.count(bh::field::access_control_allow_credentials), 0u);
  }

  for (auto origin : {"https://example.org", "https://app.example.com.evil.net", "null"}) {
    SCOPED_TRACE(origin);
    auto res = srv.request(bh::verb::get, "/health", "", {{"Origin", origin}});
    EXPECT_EQ(res.result(), bh::status::ok);
    EXPECT_EQ(res.count(bh::field::access_control_allow_origin), 0u);
    EXPECT_NE(res[bh::field::vary].find("Origin"), std::string::npos);
    auto pre = srv.request(bh::verb::options, "/items", "",
                           {{"Origin", origin}, {"Access-Control-Request-Method", "GET"}});
    EXPECT_EQ(pre.result(), bh::status::forbidden);
    EXPECT_EQ(pre.count(bh::field::access_control_allow_origin), 0u);
  }
  EXPECT_EQ(srv.stop(), 0);
}

}  // namespace
}  // namespace portcullis
