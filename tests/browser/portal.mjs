// The portal in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core),
// over the environment `healthchain demo` left: the home page shows the node and lists the
// records; following one shows its versions — all but the first verified, which the demo's
// dishonest storage provider altered — and its paid access; its owner's page shows the
// records and the EHRs doctors wrote under warrants; the jobs page the completed job; the
// consortium page the contracts, the enclave and the latest blocks. Screenshots of the
// five pages go to OUT_DIR.
//
//   node tests/browser/portal.mjs BASE_URL RECORD_ID EXPECTED_VERSIONS PATIENT OUT_DIR
//
// Exits 0 when every check holds, 1 with the failed check on standard error otherwise.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [base, recordId, expectedVersions, patient, outDir] = process.argv.slice(2);
if (!base || !recordId || !expectedVersions || !patient || !outDir) {
  console.error("usage: portal.mjs BASE_URL RECORD_ID EXPECTED_VERSIONS PATIENT OUT_DIR");
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
  check((await rows.count()) === 3, "the catalog lists the demo's three records");
  await page.screenshot({ path: join(outDir, "home.png"), fullPage: true });

  await page.locator(`a[href="/records/${recordId}"]`).click();
  await page.waitForURL(`**/records/${recordId}`);
  check((await page.locator("#record").innerText()).includes(recordId), "the record page names the record");
  const versions = page.locator("#versions tr.version");
  check((await versions.count()) === Number(expectedVersions), `${expectedVersions} versions listed`);
  const verified = Number(expectedVersions) - 1;
  check((await page.locator("#versions .ok").count()) === verified, `${verified} versions verified`);
  check((await page.locator("#versions .bad").innerText()).includes("not qualified"), "the altered version is flagged");
  check((await page.locator("#verdict").getAttribute("class")) === "bad", "the verdict says not all verified");
  check((await page.locator("#accesses tr.access").count()) === 1, "the job's access is listed");
  check((await page.locator("#accesses tr.access").innerText()).includes("completed"), "the access was paid");
  await page.screenshot({ path: join(outDir, "record.png"), fullPage: true });

  await page.goto(base + "/");
  await page.locator(`#catalog a[href="/patients/${patient}"]`).first().click();
  await page.waitForURL(`**/patients/${patient}`);
  check((await page.locator("#records tr.owned").count()) >= 1, "the patient's records are listed");
  check((await page.locator("#ehrs tr.ehr").count()) >= 1, "the EHRs doctors wrote are listed");
  await page.screenshot({ path: join(outDir, "patient.png"), fullPage: true });

  await page.locator('nav a[href="/jobs"]').click();
  await page.waitForURL("**/jobs");
  check((await page.locator("#jobs tr.job").count()) === 1, "the demo's job is listed");
  check((await page.locator("#jobs tr.job .ok").innerText()) === "completed", "the job completed");
  await page.screenshot({ path: join(outDir, "jobs.png"), fullPage: true });

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
