// Records one CORS scenario with Playwright's recordHar, driving Debian's
// Chromium: node playwright.js CONFIG.json. The config (written by
// e2e/harcorpus_test.go) names the browser, its flags, the page, the
// fetch to run and the session cookie to hold. Prints what the page saw.
const fs = require('fs');
const { chromium } = require('playwright-core');

(async () => {
  const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const ctx = await chromium.launchPersistentContext(cfg.userDataDir, {
    executablePath: cfg.chromium,
    headless: true,
    args: cfg.args,
    ignoreHTTPSErrors: true,
    recordHar: { path: cfg.har },
  });
  if (cfg.cookie) await ctx.addCookies([cfg.cookie]);
  const page = ctx.pages()[0] || (await ctx.newPage());
  await page.goto(cfg.page);
  const seen = await page.evaluate(async ([url, init]) => {
    try {
      const r = await fetch(url, init);
      return { status: r.status };
    } catch (e) {
      return { error: String(e) };
    }
  }, [cfg.url, cfg.init]);
  await page.waitForTimeout(300);
  await ctx.close();
  process.stdout.write(JSON.stringify(seen) + '\n');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
