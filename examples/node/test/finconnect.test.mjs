// FinConnect from Node: the component transpiled by jco (`npm run transpile`),
// called through its `finconnect:payments/api` export against the provider
// sandbox on loopback.
//
// The sandbox: FINCONNECT_SANDBOX_ORIGIN (e.g. http://127.0.0.1:9400) when a
// script started one already; otherwise this test starts the binary at
// FINCONNECT_SANDBOX_BIN (default ../../target/debug/finconnect-sandbox) on a
// free loopback port and stops it afterwards.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const DIST = here('../dist/finconnect.js');
const DEFAULT_SANDBOX_BIN = here('../../../target/debug/finconnect-sandbox');

let origin;
let sandbox; // the child process, when this test started it
let api;

before(async () => {
  if (!existsSync(DIST)) {
    throw new Error(
      `${DIST} is missing: build the component (cargo build --target wasm32-wasip2 --release) ` +
        'and run `npm run transpile` in examples/node first',
    );
  }
  origin = process.env.FINCONNECT_SANDBOX_ORIGIN || (await startSandbox());
  // What the component reads through wasi:config (see ../config.mjs); the
  // sandbox accepts these credentials by default.
  process.env.SPIN_VARIABLE_PESAPAL_BASE_URL = `${origin}/pesapalv3`;
  process.env.SPIN_VARIABLE_PESAPAL_CONSUMER_KEY = 'sandbox-pesapal-key';
  process.env.SPIN_VARIABLE_PESAPAL_CONSUMER_SECRET = 'sandbox-pesapal-secret';
  ({ api } = await import(DIST));
});

after(() => {
  sandbox?.kill();
});

describe('FinConnect transpiled with jco', () => {
  it('registers an IPN, then pays through PesaPal and returns the redirect URL', async () => {
    const ipn = api.registerIpn('pesapal', {
      url: 'https://shop.example/notifications/pesapal',
      notificationType: 'get',
    });
    assert.equal(ipn.provider, 'pesapal');
    assert.match(ipn.ipnId, /^[0-9a-f-]{36}$/i);

    await clearRequests();
    const reference = `node-${Date.now()}`;
    const payment = api.pay('pesapal', {
      reference,
      amount: '1500.00',
      currency: 'KES',
      description: 'Order from Node',
      customer: { email: 'buyer@example.com', countryCode: 'KE' },
      callbackUrl: 'https://shop.example/checkout/done',
      notificationId: ipn.ipnId,
    });
    assert.equal(payment.provider, 'pesapal');
    assert.equal(payment.reference, reference);
    assert.equal(payment.status, 'pending');
    assert.ok(payment.trackingId, 'a tracking id');
    assert.equal(
      payment.redirectUrl,
      `${origin}/pesapaliframe/PesapalIframe3/Index?OrderTrackingId=${payment.trackingId}`,
    );

    const seen = (await recordedRequests()).map((r) => `${r.method} ${r.path}`);
    assert.deepEqual(seen, [
      'POST /pesapalv3/api/Auth/RequestToken',
      'POST /pesapalv3/api/Transactions/SubmitOrderRequest',
    ]);
  });

  it('throws a ComponentError with tag invalid-request for a bad amount, without calling PesaPal', async () => {
    await clearRequests();
    assert.throws(
      () =>
        api.pay('pesapal', {
          reference: 'node-bad-amount',
          amount: 'twelve',
          currency: 'KES',
          description: 'Bad amount',
          customer: { email: 'buyer@example.com' },
          callbackUrl: 'https://shop.example/checkout/done',
          notificationId: '00000000-0000-0000-0000-000000000000',
        }),
      (error) => {
        // jco's ComponentError does not set `name`; its class name tells it apart.
        assert.equal(error.constructor.name, 'ComponentError');
        assert.equal(error.payload.tag, 'invalid-request');
        assert.equal(error.payload.val.field, 'amount');
        assert.equal(typeof error.payload.val.reason, 'string');
        assert.notEqual(error.payload.val.reason, '');
        return true;
      },
    );
    assert.deepEqual(await recordedRequests(), []);
  });

  it('names the missing variable when credentials are not configured', () => {
    const saved = process.env.SPIN_VARIABLE_PESAPAL_CONSUMER_KEY;
    delete process.env.SPIN_VARIABLE_PESAPAL_CONSUMER_KEY;
    try {
      assert.throws(
        () =>
          api.registerIpn('pesapal', {
            url: 'https://shop.example/notifications/pesapal',
            notificationType: 'post',
          }),
        (error) => {
          assert.equal(error.payload.tag, 'configuration');
          assert.equal(error.payload.val.variable, 'pesapal_consumer_key');
          assert.equal(typeof error.payload.val.reason, 'string');
          return true;
        },
      );
    } finally {
      process.env.SPIN_VARIABLE_PESAPAL_CONSUMER_KEY = saved;
    }
  });
});

async function recordedRequests() {
  const response = await fetch(`${origin}/_sandbox/requests`);
  assert.equal(response.status, 200);
  return response.json();
}

async function clearRequests() {
  const response = await fetch(`${origin}/_sandbox/requests`, { method: 'DELETE' });
  assert.equal(response.status, 200);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startSandbox() {
  const bin = process.env.FINCONNECT_SANDBOX_BIN || DEFAULT_SANDBOX_BIN;
  if (!existsSync(bin)) {
    throw new Error(
      `no sandbox: set FINCONNECT_SANDBOX_ORIGIN to a running one, or build ${bin} ` +
        '(cargo build -p finconnect-sandbox) or point FINCONNECT_SANDBOX_BIN at it',
    );
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  sandbox = spawn(bin, ['--addr', `127.0.0.1:${port}`, '--quiet'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((resolve) => sandbox.once('exit', resolve));
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const code = await Promise.race([exited, sleep(100).then(() => undefined)]);
    if (code !== undefined) throw new Error(`${bin} exited early (${code})`);
    try {
      if ((await fetch(`${url}/_sandbox`)).ok) return url;
    } catch {
      // not listening yet
    }
  }
  throw new Error(`${bin} did not answer on ${url} within 20 s`);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
