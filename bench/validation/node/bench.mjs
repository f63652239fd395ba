// Zod 4 on the schemas and payloads of bench/validation_bench.cpp. Prints
// one JSON line per case: {"name":..., "median_ns":...}. Each case runs 15
// batches, each long enough to take about 50 ms of CPU; the median of the
// batch means is reported (the same statistic as Google Benchmark's median,
// taken on its cpu_time).
import { readFileSync } from "node:fs";
import { z } from "zod";

const payloads = JSON.parse(
  readFileSync(new URL("../payloads.json", import.meta.url), "utf8"));

const user = z.object({
  email: z.email().max(255),
  password: z.string().min(12).max(128),
  name: z.string().min(1).max(100).optional(),
});
const five = z.object({
  id: z.int().min(1),
  name: z.string().min(1).max(100),
  email: z.email(),
  age: z.int().min(0).max(150),
  active: z.boolean(),
});
const order = z.object({
  customer: z.email(),
  note: z.string().max(500).optional(),
  items: z.array(z.object({
    sku: z.string().regex(/^[A-Z]{3}-[0-9]{1,6}$/),
    qty: z.int().min(1).max(1000),
    price: z.number().nonnegative(),
  })).min(1).max(100),
});
const items = z.object({
  page: z.coerce.number().int().min(1).default(1),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  sort: z.enum(["asc", "desc"]).optional(),
  q: z.string().max(100).optional(),
});

let sink = 0;
// CPU time of the process (all its threads, the garbage collector's
// included), in ns: on a shared machine wall time measures the neighbours.
function cpuNs() {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}
function measure(name, fn) {
  // Calibrate a batch of about 50 ms, then take 15 batches.
  let n = 1;
  for (;;) {
    const t0 = cpuNs();
    for (let i = 0; i < n; i++) sink ^= fn() ? 1 : 0;
    if (cpuNs() - t0 > 50e6) break;
    n *= 2;
  }
  const means = [];
  for (let b = 0; b < 15; b++) {
    const t0 = cpuNs();
    for (let i = 0; i < n; i++) sink ^= fn() ? 1 : 0;
    means.push((cpuNs() - t0) / n);
  }
  means.sort((a, b) => a - b);
  console.log(JSON.stringify({ name, median_ns: means[7] }));
}

for (const [key, schema] of [["user", user], ["five", five], ["order", order]]) {
  const text = JSON.stringify(payloads[key]);
  const parsed = JSON.parse(text);
  if (!schema.safeParse(parsed).success) throw new Error(`${key} does not validate`);
  measure(`parse/${key}`, () => JSON.parse(text) !== null);
  measure(`parse_validate/${key}`, () => schema.safeParse(JSON.parse(text)).success);
  measure(`validate/${key}`, () => schema.safeParse(parsed).success);
}
const query = payloads.query;
if (!items.safeParse(Object.fromEntries(new URLSearchParams(query))).success)
  throw new Error("query does not validate");
measure("query_parse_validate/items",
        () => items.safeParse(Object.fromEntries(new URLSearchParams(query))).success);
if (sink === 2) console.log("");
