// Headless Chromium from Debian, driven by playwright-core (a browser is never downloaded),
// and screenshots saved under test/screenshots/ for people to look at.
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { REPO_ROOT } from "./temp.ts";

const CHROMIUM = process.env.GANTRY_TEST_CHROMIUM ?? "/usr/bin/chromium";
const SCREENSHOTS = join(REPO_ROOT, "test", "screenshots");

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/** Saves a full-page screenshot as test/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Collects what would show in the browser console as errors (CSP violations included). */
export function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

/**
 * The WCAG 2 A and AA violations axe-core finds on each page, in light and dark (contrast
 * included), as `{ colorScheme, path, violations }` rows; each should list none. axe is
 * injected by the test, so its contexts lift the CSP that forbids such scripts.
 */
export async function axeViolations(browser: Browser, baseUrl: string, cookies: Parameters<BrowserContext["addCookies"]>[0], paths: string[]) {
  const axe = readFileSync(join(REPO_ROOT, "node_modules", "axe-core", "axe.min.js"), "utf8");
  const rows: { colorScheme: "light" | "dark"; path: string; violations: string[] }[] = [];
  for (const colorScheme of ["light", "dark"] as const) {
    const context = await browser.newContext({ bypassCSP: true, colorScheme });
    await context.addCookies(cookies);
    const checked = await context.newPage();
    for (const path of paths) {
      await checked.goto(`${baseUrl}${path}`);
      await checked.evaluate(axe);
      const violations = (await checked.evaluate(
        `axe.run(document, { runOnly: ["wcag2a", "wcag2aa"] }).then((result) => result.violations.map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")))`,
      )) as string[];
      rows.push({ colorScheme, path, violations });
    }
    await context.close();
  }
  return rows;
}
