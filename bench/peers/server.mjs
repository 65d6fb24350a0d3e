// `POST /payments` over node:http in front of the Node SDK (sdk.mjs): the
// same request and answer as FinConnect's HTTP face, for the peer benchmark.
//
//   node server.mjs --port PORT --origin http://127.0.0.1:SANDBOX --client fetch|http
//
// Credentials and the API key come from the same SPIN_VARIABLE_* variables
// FinConnect reads. Prints `listening <port>` once it accepts connections.

import http from 'node:http';
import { PesapalSdk } from './sdk.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const env = (name) => process.env[`SPIN_VARIABLE_${name.toUpperCase()}`] ?? '';
const sdk = new PesapalSdk({
  baseUrl: `${args.origin}/pesapalv3`,
  consumerKey: env('pesapal_consumer_key'),
  consumerSecret: env('pesapal_consumer_secret'),
  client: args.client ?? 'fetch',
});
const apiKey = env('finconnect_api_key');

function answer(response, status, body) {
  const payload = Buffer.from(JSON.stringify(body));
  response.writeHead(status, {
    'content-type': status < 300 ? 'application/json' : 'application/problem+json',
    'content-length': payload.length,
  });
  response.end(payload);
}

const server = http.createServer((request, response) => {
  if (request.method !== 'POST' || request.url !== '/payments') {
    answer(response, 404, { code: 'not_found', status: 404 });
    return;
  }
  if (!apiKey || request.headers.authorization !== `Bearer ${apiKey}`) {
    answer(response, 401, { code: 'unauthorized', status: 401 });
    return;
  }
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', async () => {
    let order;
    try {
      order = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      answer(response, 400, { code: 'invalid_request', status: 400 });
      return;
    }
    if (order.provider !== 'pesapal' || typeof order.reference !== 'string') {
      answer(response, 422, { code: 'invalid_request', status: 422 });
      return;
    }
    try {
      answer(response, 201, await sdk.pay(order));
    } catch (error) {
      answer(response, 502, { code: 'provider_error', status: 502, detail: String(error.message) });
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(args.port), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
