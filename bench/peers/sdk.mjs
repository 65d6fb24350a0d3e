// The original SDK's PesaPal flow as a plain Node library, for the peer
// benchmark (`cargo xtask bench --peers`): every pay asks PesaPal for a
// token, then submits the order with it (two round trips), like FinConnect.
//
// Two HTTP clients, chosen per instance:
//   'fetch' — the global fetch (undici), as the original SDK's shape does;
//   'http'  — node:http with a keep-alive agent, the lean variant.
// No npm dependencies.

import http from 'node:http';

/** One PesaPal merchant: base URL and credentials, like `new FintechSDK({provider})`. */
export class PesapalSdk {
  #baseUrl;
  #key;
  #secret;
  #send;

  constructor({ baseUrl, consumerKey, consumerSecret, client = 'fetch' }) {
    this.#baseUrl = baseUrl.replace(/\/+$/, '');
    this.#key = consumerKey;
    this.#secret = consumerSecret;
    if (client === 'fetch') {
      this.#send = sendWithFetch;
    } else if (client === 'http') {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
      this.#send = (url, body, token) => sendWithHttp(agent, url, body, token);
    } else {
      throw new Error(`client must be 'fetch' or 'http', got ${client}`);
    }
  }

  /** Token, then SubmitOrderRequest; resolves to the payment FinConnect answers with. */
  async pay(order) {
    const auth = await this.#send(`${this.#baseUrl}/api/Auth/RequestToken`, {
      consumer_key: this.#key,
      consumer_secret: this.#secret,
    });
    if (!auth.token) throw new Error('PesaPal token reply without a token');
    const customer = order.customer ?? {};
    const reply = await this.#send(
      `${this.#baseUrl}/api/Transactions/SubmitOrderRequest`,
      {
        id: order.reference,
        currency: order.currency,
        amount: Number(order.amount),
        description: order.description ?? '',
        callback_url: order.callback_url ?? '',
        notification_id: order.notification_id ?? '',
        billing_address: {
          email_address: customer.email,
          phone_number: customer.phone,
          country_code: customer.country_code,
          first_name: customer.first_name,
          last_name: customer.last_name,
        },
      },
      auth.token,
    );
    if (!reply.order_tracking_id || !reply.redirect_url) {
      throw new Error(`PesaPal order reply without a tracking id: ${JSON.stringify(reply)}`);
    }
    return {
      provider: 'pesapal',
      reference: reply.merchant_reference ?? order.reference,
      tracking_id: reply.order_tracking_id,
      redirect_url: reply.redirect_url,
      status: 'pending',
    };
  }
}

function headers(token) {
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return headers;
}

async function sendWithFetch(url, body, token) {
  const response = await fetch(url, {
    method: 'POST',
    headers: headers(token),
    body: JSON.stringify(body),
  });
  const reply = await response.json();
  if (!response.ok || reply.error) {
    throw new Error(`PesaPal answered ${response.status}: ${JSON.stringify(reply.error ?? reply)}`);
  }
  return reply;
}

function sendWithHttp(agent, url, body, token) {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { ...headers(token), 'content-length': payload.length },
      },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          try {
            const reply = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            if (response.statusCode >= 400 || reply.error) {
              reject(new Error(`PesaPal answered ${response.statusCode}: ${JSON.stringify(reply.error ?? reply)}`));
            } else {
              resolve(reply);
            }
          } catch (error) {
            reject(error);
          }
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}
