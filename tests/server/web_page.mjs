// The web chat page in headless Chromium (Debian's package) driven by playwright-core.
// Usage: node web_page.mjs BASE_URL API_KEY SCREENSHOT.png (test_node_clients.py runs it).
import { chromium } from "playwright-core";
import fs from "node:fs";

const [base, key, shot] = process.argv.slice(2);
const exe = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => fs.existsSync(p));
if (!exe) { console.log("FAIL no chromium (apt install chromium)"); process.exit(1); }
let pass = 0, fail = 0;
const check = (ok, what) => { ok ? pass++ : fail++; console.log((ok ? "ok   " : "FAIL ") + what); };
const browser = await chromium.launch({ executablePath: exe, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  let asked = 0;
  page.on("dialog", async (d) => { asked++; await d.accept(key); });
  await page.goto(base + "/");
  await page.waitForFunction(() => document.getElementById("model").textContent.includes("tiny"), null, { timeout: 20000 });
  check(asked === 1, "the page asks for the API key once (401 without it) and then shows the model");

  await page.fill("#input", "Please think first.");
  await page.press("#input", "Enter");
  const last = page.locator(".msg.assistant").last();
  await page.waitForFunction(() => /tokens\/s/.test(document.querySelector(".msg.assistant:last-child .stats")?.textContent || ""),
                             null, { timeout: 30000 });
  const txt = await last.innerText();
  check(txt.includes("The answer is 42."), "streamed answer shown");
  const reasoning = await last.locator("details.reasoning").textContent();
  check(reasoning.includes("The user wants a number."), "reasoning shown apart, in a collapsible");
  check(!(await last.locator("details.reasoning").evaluate((d) => d.open)), "reasoning collapsed by default");

  await page.click("#settings-btn");
  await page.fill("#max-tokens", "1500");
  await page.dispatchEvent("#max-tokens", "change");
  await page.fill("#input", "talk forever");
  await page.press("#input", "Enter");
  await page.waitForFunction(() => (document.querySelector(".msg.assistant:last-child")?.textContent.match(/and on/g) || []).length >= 5,
                             null, { timeout: 30000 });
  check(await page.isEnabled("#stop"), "stop button enabled while streaming");
  await page.click("#stop");
  await page.waitForFunction(() => /stopped/.test(document.querySelector(".msg.assistant:last-child .stats")?.textContent || ""),
                             null, { timeout: 10000 });
  check(await page.isEnabled("#send"), "stop ends the answer; send enabled again");
  let running = -1;
  for (let i = 0; i < 50 && running !== 0; i++) {
    const m = await (await fetch(base + "/metrics")).text();
    running = Number(m.match(/^tritium:num_requests_running\{[^}]*\} (\S+)/m)[1]);
    if (running !== 0) await new Promise((r) => setTimeout(r, 100));
  }
  check(running === 0, "the stopped request was aborted on the server (0 running)");
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem("tritium.messages")).length);
  check(stored === 4, "conversation kept in the browser (4 messages)");
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll(".msg").length === 4, null, { timeout: 10000 });
  check(true, "conversation restored after a reload");
  check(external.length === 0, "self-contained: no requests to other origins" + (external.length ? " " + external[0] : ""));
  if (shot) await page.screenshot({ path: shot, fullPage: true });
} catch (e) {
  check(false, "exception: " + e.message.split("\n")[0]);
} finally {
  await browser.close();
}
console.log(`${pass} of ${pass + fail} checks passed`);
process.exit(fail ? 1 : 0);
