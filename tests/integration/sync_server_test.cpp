// The synchronous Beast example runs a chain with run_blocking over real HTTP.
#include "support/reference_server.hpp"

#include <gtest/gtest.h>

namespace portcullis {
namespace {

namespace bh = boost::beast::http;

TEST(sync_server, answers_through_the_chain) {
  FILE* p = popen((std::string(PORTCULLIS_SYNC_SERVER_BIN) + " 0").c_str(), "r");
  ASSERT_NE(p, nullptr);
  char line[128] = {0};
  ASSERT_NE(fgets(line, sizeof line, p), nullptr);
  std::string s = line;
  auto port = static_cast<unsigned short>(std::stoi(s.substr(s.rfind(':') + 1)));

  test::http_client client{port};
  test::http_request req{bh::verb::get, "/hello", 11};
  auto res = client.send(req);
  EXPECT_EQ(res.result(), bh::status::ok);
  EXPECT_EQ(res.body(), R"({"hello":"127.0.0.1"})");
  auto nf = client.send(test::http_request{bh::verb::get, "/nope", 11});  // same connection
  EXPECT_EQ(nf.result(), bh::status::not_found);

  system(("pkill -f '" + std::string(PORTCULLIS_SYNC_SERVER_BIN) + " 0'").c_str());
  pclose(p);
}

}  // namespace
}  // namespace portcullis
