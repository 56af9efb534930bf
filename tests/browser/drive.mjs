// Drives headless Chromium through the todo page for tests/tests/browser.rs: opens the page,
// signs up, creates and completes a todo, throws the page's deliberate error, then hides the
// page so the SDK reports the remaining web vitals and flushes. Prints one JSON line with what
// it saw; exits non-zero on failure.
//
//   BASE_URL=http://127.0.0.1:8080 CHROMIUM=/usr/bin/chromium node drive.mjs
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.BASE_URL;
if (!base) {
  console.error("BASE_URL is not set");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const email = `browser-${Date.now()}-${process.pid}@example.com`;
const profile = mkdtempSync(join(tmpdir(), "obs-chromium-"));
const seen = { console: [], pageErrors: [], faroRequests: 0, faroStatuses: [] };

const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15000);
  page.on("console", (message) => seen.console.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => seen.pageErrors.push(String(error && error.message)));
  page.on("response", (response) => {
    if (response.url().includes("/faro/collect")) {
      seen.faroRequests += 1;
      seen.faroStatuses.push(response.status());
    }
  });

  await page.goto(`${base}/`, { waitUntil: "load" });
  await page.waitForFunction(() => window.faro && window.faro.api, null, { timeout: 10000 });

  await page.fill("#signup-name", "Browser Test");
  await page.fill("#signup-email", email);
  await page.fill("#signup-password", "password123");
  await page.click("#signup-form button[type=submit]");
  await page.waitForSelector("#app:not([hidden])");

  await page.fill("#todo-title", "observe the browser");
  await page.click("#todo-form button[type=submit]");
  await page.waitForSelector("#todos li input[type=checkbox]");
  await page.click("#todos li input[type=checkbox]");
  await page.waitForSelector("#todos li.done");

  await page.click("#deliberate-error");
  // Let the batches of the clicks go out (Faro sends after 250 ms).
  await page.waitForTimeout(1500);

  // Hiding the page is when web-vitals reports LCP, CLS and INP and Faro flushes.
  await page.evaluate(() => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    document.dispatchEvent(new Event("visibilitychange"));
    window.dispatchEvent(new Event("pagehide"));
  });
  await page.waitForTimeout(2000);
  seen.email = email;
  console.log(JSON.stringify(seen));
} catch (error) {
  console.log(JSON.stringify(seen));
  console.error(error && error.stack ? error.stack : String(error));
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
