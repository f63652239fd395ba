# The Express peer of the reference server (bench/peers): `bench/peers/run
# conform` starts both servers on loopback and sends them the same request
# sequences; a difference in status or standard headers that
# docs/comparison.md does not explain fails the test. Its npm packages come
# from bench/peers/express/package-lock.json (scripts/test runs npm ci
# there). Without them, or without node, the test is skipped (exit 77),
# unless PORTCULLIS_REQUIRE_SERVICES=1, where it fails.
add_test(NAME peers.conform
         COMMAND bash "${PROJECT_SOURCE_DIR}/bench/peers/run" conform)
set_tests_properties(peers.conform PROPERTIES
  LABELS peers SKIP_RETURN_CODE 77 TIMEOUT 120
  ENVIRONMENT "SECURE_API=$<TARGET_FILE:secure_api>")
