// The CMS in a real browser (Debian's chromium driven by playwright-core), against the real services: issue
// 13's scenario. Run by tests/cms/browser.sh, which starts auth, ticketing, gate-acl and the CMS on the
// running PostgreSQL and Kafka and passes their addresses; a screenshot of each main screen goes to SHOTS_DIR. Any failed check
// exits non-zero with what was expected.
//   sign in (a wrong password first: the error at the field) → the dashboard's counts and chart → a merchant
//   and a payment method → an event with two areas (a bad capacity first: the error at the field), approved,
//   edited
//   → a ticket bought and paid through the API → the paid order, the dashboard's counts and chart changed →
//   the refund, confirmed → the ticket's access revoked (in the CMS and at gate-acl) → event staff with a
//   QR badge and a work window, approved in the schedules → a gate staff user created, who cannot open the
//   refunds page.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (tests/cms/browser.sh sets it)`);
  return value;
};
const cms = env('CMS_URL');
const authUrl = env('AUTH_URL');
const ticketingUrl = env('TICKETING_URL');
const gateUrl = env('GATE_URL');
const adminUser = env('ADMIN_USERNAME');
const adminPassword = fs.readFileSync(env('ADMIN_PASSWORD_FILE'), 'utf8').trim();
const shots = env('SHOTS_DIR');
const TIMEOUT_MS = Number(process.env.SAGA_TIMEOUT_MS || 60000);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const step = (text) => console.log(`\n== ${text}`);
const at = (minutes) => {
  const date = new Date(Date.now() + minutes * 60000);
  return date.toISOString().slice(0, 16); // datetime-local in UTC (the CMS runs with TIME_ZONE=UTC)
};

async function api(base, method, route, token, body) {
  const response = await fetch(`${base}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
  return json;
}

async function until(what, check) {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${TIMEOUT_MS} ms waiting for ${what}`);
    await sleep(250);
  }
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: env('CHROMIUM_PATH'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, baseURL: cms });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const shot = async (name) => {
    const file = path.join(shots, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`   screenshot ${file}`);
  };
  const goto = async (route, status = 200) => {
    const response = await page.goto(route);
    assert.equal(response.status(), status, `${route} answered ${response.status()}`);
  };
  const text = async (selector) => (await page.locator(selector).first().innerText()).trim();
  const number = async (selector) => Number((await text(selector)).replace(/[^0-9]/g, ''));
  const signIn = async (username, password) => {
    await goto('/login');
    await page.fill('#username', username);
    await page.fill('#password', password);
    await page.click('button[type=submit]');
  };

  step('sign in: a wrong password is shown at the field, then the admin signs in');
  await signIn(adminUser, 'certainly not the password');
  assert.match(await text('.field.error .error-text'), /username or password is wrong/);
  await shot('01-login');
  await signIn(adminUser, adminPassword);
  await page.waitForURL('**/dashboard');

  step('the dashboard before: counts and an empty chart');
  const before = { merchants: await number('[data-test=merchants]'), events: await number('[data-test=events]'),
    customers: await number('[data-test=customers]'), revenue: await number('[data-test=revenue]') };
  console.log('   before:', before);
  const barsBefore = await page.locator('.chart rect.bar').evaluateAll((bars) => bars.map((bar) => Number(bar.getAttribute('height'))));
  assert.ok(barsBefore.length >= 28, `a bar a day of the last 30 days (${barsBefore.length})`);
  await shot('02-dashboard-before');

  step('a merchant and the payment method');
  await goto('/merchants');
  await page.fill('#name', 'Promotor Jakarta');
  await page.click('form[action="/merchants"] button[type=submit]');
  await page.waitForURL('**/merchants');
  assert.ok(await page.locator('td', { hasText: 'Promotor Jakarta' }).count() >= 1, 'the merchant is listed');
  await shot('03-merchants');
  await goto('/payment-methods');
  if ((await page.locator('code', { hasText: /^BANK_TRANSFER$/ }).count()) === 0) {
    await page.fill('#code', 'BANK_TRANSFER');
    await page.fill('#name', 'Bank transfer');
    await page.click('form[action="/payment-methods"] button[type=submit]');
    await page.waitForURL('**/payment-methods');
  }
  assert.ok(await page.locator('code', { hasText: /^BANK_TRANSFER$/ }).count() === 1, 'BANK_TRANSFER is set up');
  await shot('04-payment-methods');

  step('an event with two areas: a bad capacity is shown at its field, then it is created');
  await goto('/events/new');
  await page.selectOption('#merchantId', { label: 'Promotor Jakarta' });
  await page.fill('#name', 'EXO EXPLORATION');
  await page.fill('#venue', 'Istora Senayan, Jakarta');
  await page.fill('#startsAt', at(24 * 60));
  await page.fill('#endsAt', at(30 * 60));
  await page.fill('#saleStartsAt', at(-60));
  await page.fill('#saleEndsAt', at(23 * 60));
  await page.fill('[id="areas[0].name"]', 'Festival');
  await page.fill('[id="areas[0].capacity"]', '-5');
  await page.fill('[id="areas[0].price"]', '750000');
  await page.fill('[id="areas[1].name"]', 'VIP');
  await page.fill('[id="areas[1].capacity"]', '10');
  await page.fill('[id="areas[1].price"]', '2500000');
  await page.click('form[action="/events"] button[type=submit]');
  const capacityError = page.locator('[data-field="areas[0].capacity"]');
  await capacityError.waitFor();
  console.log(`   the service's error at areas[0].capacity: ${await capacityError.innerText()}`);
  await shot('05-event-form-error');
  await page.fill('[id="areas[0].capacity"]', '100');
  await page.click('form[action="/events"] button[type=submit]');
  await page.waitForURL(/\/events\/\d+$/);
  const eventId = Number(page.url().split('/').pop());
  assert.match(await text('.badge'), /waiting/);
  await shot('06-event-waiting');

  step('the event approved');
  await page.click(`form[action="/events/${eventId}/approve"] button`);
  await page.waitForURL(`**/events/${eventId}`);
  assert.equal(await text('.card .badge'), 'approved');
  await shot('07-event-approved');
  step('the approved event edited: the VIP area grows to 12 seats (its times are kept to the second)');
  await goto(`/events/${eventId}/edit`);
  assert.equal(await page.inputValue('[id="areas[1].name"]'), 'VIP');
  await page.fill('[id="areas[1].capacity"]', '12');
  await shot('08-event-edit');
  await page.click(`form[action="/events/${eventId}"] button[type=submit]`);
  await page.waitForURL(`**/events/${eventId}`);
  assert.match(await page.locator('tr', { hasText: 'VIP' }).innerText(), /\b12\b/);
  await goto('/events?approval=approved');
  assert.ok(await page.locator('a', { hasText: 'EXO EXPLORATION' }).count() >= 1, 'listed under Approved');
  await shot('09-events');

  step('a ticket bought and paid through the API (the cashier\'s till), and the saga makes it active');
  const login = await (await fetch(`${authUrl}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: adminUser, password: adminPassword }) })).json();
  const token = login.accessToken;
  const event = await api(ticketingUrl, 'GET', `/v1/events/${eventId}`, token);
  const vip = event.areas.find((area) => area.name === 'VIP');
  const order = await api(ticketingUrl, 'POST', '/v1/orders', token, { eventId, paymentMethod: 'BANK_TRANSFER',
    customerEmail: 'budi@example.com', items: [{ areaId: vip.id, quantity: 1 }] });
  await api(ticketingUrl, 'POST', `/v1/orders/${order.number}/payment`, token, { amount: order.totalPrice });
  const paid = await until('the ticket to turn active', async () => {
    const current = await api(ticketingUrl, 'GET', `/v1/orders/${order.number}`, token);
    return current.tickets.length && current.tickets[0].state === 'active' ? current : null;
  });
  const ticketId = paid.tickets[0].id;
  console.log(`   order ${order.number} paid, ticket ${ticketId} active`);

  step('the paid order in the CMS');
  await goto(`/orders?q=${encodeURIComponent(order.number)}`);
  const row = page.locator('tr', { hasText: order.number });
  assert.equal(await row.count(), 1, 'the order is found by its number');
  assert.match(await row.innerText(), /Already paid/);
  await shot('10-orders');
  await goto(`/orders/${order.number}`);
  assert.equal(await text('[data-test=ticket-state]'), 'active');
  await shot('11-order-paid');

  step('the dashboard after: the counts and the chart changed');
  await goto('/dashboard');
  const after = { merchants: await number('[data-test=merchants]'), events: await number('[data-test=events]'),
    customers: await number('[data-test=customers]'), revenue: await number('[data-test=revenue]') };
  console.log('   after:', after);
  assert.equal(after.merchants, before.merchants + 1);
  assert.equal(after.events, before.events + 1);
  assert.equal(after.customers, before.customers + 1);
  assert.equal(after.revenue, before.revenue + order.totalPrice);
  const barsAfter = await page.locator('.chart rect.bar').evaluateAll((bars) => bars.map((bar) => Number(bar.getAttribute('height'))));
  assert.ok(Math.max(...barsAfter) > Math.max(0, ...barsBefore), `today's bar grew: ${barsBefore} -> ${barsAfter}`);
  await shot('12-dashboard-after');
  await goto('/dashboard?by=month');
  await shot('13-dashboard-by-month');

  step('the refund: asked, confirmed, completed; the ticket\'s access revoked');
  await goto(`/orders/${order.number}`);
  await page.click('a.button.danger');
  await page.waitForURL(`**/orders/${order.number}/refund`);
  assert.match(await text('[data-test=refund-amount]'), /2\.500\.000/);
  await shot('14-refund-confirm');
  await page.click('form button.danger');
  await page.waitForURL(`**/orders/${order.number}`);
  await until('the refund to complete and the ticket to be revoked', async () => {
    await page.reload();
    const refund = await page.locator('[data-test=refund-state]').count() ? await text('[data-test=refund-state]') : '';
    return /refunded/.test(refund) && (await text('[data-test=ticket-state]')) === 'revoked';
  });
  await shot('15-order-refunded');
  const access = await api(gateUrl, 'GET', `/v1/access/${ticketId}`, token);
  assert.equal(access.state, 'revoked', 'gate-acl revoked the ticket\'s access');
  await goto('/refunds');
  assert.match(await page.locator('tr', { hasText: order.number }).innerText(), /refunded/);
  await shot('16-refunds');

  step('event staff with a QR badge and a work window, approved in the schedules');
  await goto(`/event-staff?eventId=${eventId}`);
  await page.fill('#name', 'Irwandi Papatungan');
  await page.fill('#role', 'usher');
  await page.fill('#validFrom', at(23 * 60));
  await page.fill('#validUntil', at(31 * 60));
  await page.click('form[action="/event-staff"] button[type=submit]');
  await page.waitForURL(/\/event-staff\/\d+$/);
  assert.equal(await page.locator('[data-test=staff-qr] svg').count(), 1, 'the QR code is drawn');
  await page.fill('#startsAt', at(24 * 60));
  await page.fill('#endsAt', at(28 * 60));
  await page.click('form[action$="/shifts"] button[type=submit]');
  await page.waitForURL(/\/event-staff\/\d+$/);
  await shot('17-staff-badge');
  await page.emulateMedia({ media: 'print' });
  await shot('18-staff-badge-print');
  await page.emulateMedia({ media: 'screen' });
  await goto(`/event-staff?eventId=${eventId}`);
  await shot('19-event-staff');
  await goto('/schedules?approval=waiting');
  await page.locator('tr', { hasText: 'Irwandi Papatungan' }).locator('button').click();
  await page.waitForURL('**/schedules');
  assert.match(await page.locator('tr', { hasText: 'Irwandi Papatungan' }).innerText(), /approved/);
  await shot('20-schedules');

  step('a gate staff user created and set up');
  await goto('/users/new');
  await page.fill('#name', 'Fadria Gate');
  await page.fill('#username', 'fadria');
  await page.fill('#email', 'fadria@mail.com');
  await page.fill('#phone', '6261275564756');
  await page.fill('#password', 'gate staff passphrase 42');
  await page.check('input[name=roles][value=gate_staff]');
  await page.click('form[action="/users"] button[type=submit]');
  await page.waitForURL('**/users');
  assert.match(await page.locator('tr', { hasText: 'Fadria Gate' }).innerText(), /confirmed/);
  await shot('21-users');
  await page.locator('tr', { hasText: 'Fadria Gate' }).locator('a', { hasText: 'Setup' }).click();
  await page.waitForURL(/\/users\/\d+\/roles$/);
  await shot('22-user-setup');
  await goto('/staff');
  await shot('23-staff');

  step('the gate staff user cannot open the refunds page');
  await page.click('form[action="/logout"] button');
  await page.waitForURL('**/login');
  await signIn('fadria', 'gate staff passphrase 42');
  await page.waitForURL('**/event-staff');
  assert.equal(await page.locator('nav a[href="/refunds"]').count(), 0, 'no refunds in the gate staff\'s menu');
  await goto('/refunds', 403);
  assert.match(await text('h1'), /Not available to you/);
  await shot('24-refunds-forbidden');

  await browser.close();
  console.log('\nthe CMS scenario passed');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
