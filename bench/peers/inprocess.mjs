// In-process pays for the peer benchmark: the Node SDK (sdk.mjs) called as a
// library, or FinConnect transpiled by jco called through its WIT export,
// one pay after another against the sandbox. Prints one JSON line.
//
//   node inprocess.mjs --mode sdk-fetch|sdk-http|jco --origin URL --ipn ID --pays N
//       [--jco DIR/finconnect.js]

import { PesapalSdk } from './sdk.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const pays = Number(args.pays ?? 300);
const warmup = Math.min(50, pays);
const origin = args.origin;
const env = (name) => process.env[`SPIN_VARIABLE_${name.toUpperCase()}`] ?? '';

function order(reference) {
  return {
    reference,
    amount: '1500.00',
    currency: 'KES',
    description: 'Benchmark order',
    callback_url: 'https://shop.example/return',
    notification_id: args.ipn,
    customer: { email: 'jane@example.com', first_name: 'Jane', last_name: 'Doe', country_code: 'KE' },
  };
}

async function payFunction() {
  if (args.mode === 'sdk-fetch' || args.mode === 'sdk-http') {
    const sdk = new PesapalSdk({
      baseUrl: `${origin}/pesapalv3`,
      consumerKey: env('pesapal_consumer_key'),
      consumerSecret: env('pesapal_consumer_secret'),
      client: args.mode === 'sdk-fetch' ? 'fetch' : 'http',
    });
    return (reference) => sdk.pay(order(reference));
  }
  if (args.mode === 'jco') {
    // What FinConnect reads through wasi:config (examples/node/config.mjs).
    process.env.SPIN_VARIABLE_PESAPAL_BASE_URL = `${origin}/pesapalv3`;
    const { api } = await import(args.jco);
    return async (reference) => {
      const o = order(reference);
      return api.pay('pesapal', {
        reference: o.reference,
        amount: o.amount,
        currency: o.currency,
        description: o.description,
        customer: { email: o.customer.email, firstName: 'Jane', lastName: 'Doe', countryCode: 'KE' },
        callbackUrl: o.callback_url,
        notificationId: o.notification_id,
      });
    };
  }
  throw new Error(`--mode must be sdk-fetch, sdk-http or jco, got ${args.mode}`);
}

const pay = await payFunction();
const run = `${args.mode}-${process.pid}-${Date.now()}`;
for (let i = 0; i < warmup; i++) await pay(`W-${run}-${i}`);
const samples = [];
const cpuStart = process.cpuUsage();
const started = process.hrtime.bigint();
for (let i = 0; i < pays; i++) {
  const start = process.hrtime.bigint();
  await pay(`P-${run}-${i}`);
  samples.push(Number(process.hrtime.bigint() - start) / 1e6);
}
const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpuStart);
samples.sort((a, b) => a - b);
const pct = (q) => samples[Math.min(samples.length, Math.max(1, Math.ceil(q * samples.length))) - 1];
console.log(
  JSON.stringify({
    mode: args.mode,
    pays,
    warmup,
    p50_ms: pct(0.5),
    p99_ms: pct(0.99),
    over_30ms: samples.filter((ms) => ms > 30).length,
    pays_per_s: pays / elapsed,
    cpu_us_per_pay: (cpu.user + cpu.system) / pays,
  }),
);
