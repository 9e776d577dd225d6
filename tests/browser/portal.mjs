// The portal in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// the home page shows the node and lists the record; following its link shows the record's
// versions, all verified, and its accesses; the consortium page lists the contracts, the
// enclave and the latest blocks. Screenshots of the three pages go to OUT_DIR.
//
//   node tests/browser/portal.mjs BASE_URL RECORD_ID EXPECTED_VERSIONS OUT_DIR
//
// Exits 0 when every check holds, 1 with the failed check on standard error otherwise.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [base, recordId, expectedVersions, outDir] = process.argv.slice(2);
if (!base || !recordId || !expectedVersions || !outDir) {
  console.error("usage: portal.mjs BASE_URL RECORD_ID EXPECTED_VERSIONS OUT_DIR");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

function check(condition, what) {
  if (!condition) throw new Error(`portal check failed: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
  timeout: 60_000,
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(30_000);
  const external = [];
  page.on("request", (request) => {
    if (!request.url().startsWith(base)) external.push(request.url());
  });

  const home = await page.goto(base + "/");
  check(home.status() === 200, `GET / answered ${home.status()}`);
  check((await page.locator("h1").innerText()) === "healthchain", "the home page's title");
  check(Number(await page.locator("#block").innerText()) > 0, "the latest block is shown");
  const rows = page.locator("#catalog tr.record");
  check((await rows.count()) >= 1, "the catalog lists the record");
  await page.screenshot({ path: join(outDir, "home.png"), fullPage: true });

  await page.locator(`a[href="/records/${recordId}"]`).click();
  await page.waitForURL(`**/records/${recordId}`);
  check((await page.locator("#record").innerText()).includes(recordId), "the record page names the record");
  const versions = page.locator("#versions tr.version");
  check((await versions.count()) === Number(expectedVersions), `${expectedVersions} versions listed`);
  check((await page.locator("#versions .ok").count()) === Number(expectedVersions), "every version verified");
  check((await page.locator("#verdict").getAttribute("class")) === "ok", "the verdict says verified");
  check((await page.locator("#accesses").innerText()).includes("Accesses"), "the accesses section");
  await page.screenshot({ path: join(outDir, "record.png"), fullPage: true });

  await page.locator('nav a[href="/consortium"]').click();
  await page.waitForURL("**/consortium");
  check((await page.locator("#contracts tr.contract").count()) === 7, "the consortium page lists 7 contracts");
  check((await page.locator("#blocks tr.block").count()) >= 1, "the consortium page lists blocks");
  check((await page.locator("#enclave").innerText()).includes("Measurement"), "the enclave's measurement");
  await page.screenshot({ path: join(outDir, "consortium.png"), fullPage: true });

  const missing = await page.goto(base + "/records/0x1234");
  check(missing.status() === 400, `a malformed record id answers 400, got ${missing.status()}`);
  check((await page.locator("#error").innerText()).includes("64 hex digits"), "the error page says why");

  check(external.length === 0, `no request leaves the node: ${external.join(", ")}`);
  console.log(`portal: ok (screenshots in ${outDir})`);
} catch (error) {
  console.error(error.message ?? error);
  process.exitCode = 1;
} finally {
  await browser.close();
}
