// Lighthouse's performance audit of the todo page for tests/tests/lighthouse.rs, in the Debian
// Chromium (nothing is downloaded), with Lighthouse's default mobile emulation and simulated
// throttling so scores compare across machines. Prints one JSON line: the performance score,
// LCP, TBT, CLS and the JavaScript bytes the page transferred; exits non-zero on failure.
//
//   PAGE_URL=http://127.0.0.1:8080/ CHROMIUM=/usr/bin/chromium node lighthouse.mjs
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as chromeLauncher from "chrome-launcher";
import lighthouse from "lighthouse";

const url = process.env.PAGE_URL;
if (!url) {
  console.error("PAGE_URL is not set");
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), "obs-lighthouse-"));
const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROMIUM || "/usr/bin/chromium",
  userDataDir: profile,
  chromeFlags: [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const result = await lighthouse(url, {
    port: chrome.port,
    output: "json",
    logLevel: "error",
    onlyCategories: ["performance"],
  });
  const lhr = result.lhr;
  if (lhr.runtimeError) {
    throw new Error(`${lhr.runtimeError.code}: ${lhr.runtimeError.message}`);
  }
  const audit = (id) => lhr.audits[id];
  const scripts = (audit("resource-summary").details.items || []).find(
    (item) => item.resourceType === "script",
  );
  console.log(
    JSON.stringify({
      lighthouse: lhr.lighthouseVersion,
      score: lhr.categories.performance.score,
      lcp_ms: audit("largest-contentful-paint").numericValue,
      tbt_ms: audit("total-blocking-time").numericValue,
      cls: audit("cumulative-layout-shift").numericValue,
      fcp_ms: audit("first-contentful-paint").numericValue,
      js_bytes: scripts ? scripts.transferSize : 0,
      js_requests: scripts ? scripts.requestCount : 0,
      total_bytes: audit("total-byte-weight").numericValue,
    }),
  );
} finally {
  await chrome.kill();
  rmSync(profile, { recursive: true, force: true });
}
