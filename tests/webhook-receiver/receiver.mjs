// A stand-in merchant for the tests: it receives FinConnect's webhooks and
// checks each one with the reference Standard Webhooks verifier (the npm
// package `standardwebhooks`, pinned in package.json), exactly as a merchant
// would: `new Webhook(secret).verify(body, headers)`.
//
//   WEBHOOK_SECRET=whsec_... node receiver.mjs [PORT]
//
// It listens on 127.0.0.1:PORT (PORT 0 or absent: a free port) and prints
// `listening 127.0.0.1:<port>` as its first line on stdout.
//
// Every POST (to any path but /control) is a delivery. It is verified and
// recorded, then answered 204 when verified, 400 when not, or 503 when the
// tests asked for refusals (refused deliveries are recorded too, with
// `refused: true`, and never count as accepted).
//
// For the tests:
//   GET  /received  the recorded deliveries, oldest first (JSON array)
//   POST /control   {"refuse": N}          answer the next N deliveries 503
//                   {"refuse_all": bool}   answer every delivery 503 (or stop)
//                   {"clear": true}        forget what was recorded
//
// It exits with status 0 on SIGTERM or SIGINT, and also when its stdin
// closes if RECEIVER_EXIT_WITH_STDIN=1 (so that it cannot outlive a test
// process that was killed).

import http from "node:http";
import { Webhook } from "standardwebhooks";

const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  console.error("receiver: set WEBHOOK_SECRET=whsec_<base64>");
  process.exit(2);
}
// A secret the package cannot use fails now rather than on every request.
let webhook;
try {
  webhook = new Webhook(secret);
} catch (err) {
  console.error(`receiver: WEBHOOK_SECRET is unusable: ${err.message}`);
  process.exit(2);
}

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`receiver: bad port ${process.argv[2] ?? process.env.PORT}`);
  process.exit(2);
}

/** What was received, oldest first. */
let received = [];
/** How many of the next deliveries to refuse with 503. */
let refuseNext = 0;
/** Whether to refuse every delivery with 503. */
let refuseAll = false;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function reply(res, status, body) {
  if (body === undefined) {
    res.writeHead(status).end();
  } else {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json" }).end(text);
  }
}

/** Verifies and records one delivery; returns the status to answer. */
function deliver(req, body) {
  const header = (name) => req.headers[name] ?? null;
  let verified = false;
  let error = null;
  try {
    // The merchant's call. It also parses the body as JSON, so a signed body
    // that is not JSON fails here as it would for a merchant.
    webhook.verify(body, req.headers);
    verified = true;
  } catch (err) {
    error = `${err.name}: ${err.message}`;
  }
  let parsed = null;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    // Not JSON: `body` stays null, `raw` has the text.
  }
  const refused = refuseAll || refuseNext > 0;
  if (refused && !refuseAll) refuseNext -= 1;
  const status = refused ? 503 : verified ? 204 : 400;
  received.push({
    path: req.url,
    id: header("webhook-id"),
    timestamp: header("webhook-timestamp"),
    signature: header("webhook-signature"),
    verified,
    error,
    status,
    refused,
    body: parsed,
    raw: body.toString("utf8"),
  });
  return status;
}

/** Applies a /control command; returns an error message or null. */
function control(body) {
  let command;
  try {
    command = JSON.parse(body.toString("utf8"));
  } catch (err) {
    return `not JSON: ${err.message}`;
  }
  if (command === null || typeof command !== "object" || Array.isArray(command)) {
    return "not an object";
  }
  for (const key of Object.keys(command)) {
    if (!["refuse", "refuse_all", "clear"].includes(key)) return `unknown key ${key}`;
  }
  if ("refuse" in command) {
    if (!Number.isInteger(command.refuse) || command.refuse < 0) return "refuse must be a count";
    refuseNext = command.refuse;
  }
  if ("refuse_all" in command) {
    if (typeof command.refuse_all !== "boolean") return "refuse_all must be true or false";
    refuseAll = command.refuse_all;
  }
  if (command.clear === true) received = [];
  return null;
}

const server = http.createServer(async (req, res) => {
  try {
    const body = await readBody(req);
    const path = new URL(req.url, "http://receiver").pathname;
    if (req.method === "GET" && path === "/received") {
      reply(res, 200, received);
    } else if (req.method === "POST" && path === "/control") {
      const error = control(body);
      if (error) reply(res, 400, { error });
      else reply(res, 200, { refuse: refuseNext, refuse_all: refuseAll });
    } else if (req.method === "POST") {
      reply(res, deliver(req, body));
    } else {
      reply(res, 405, { error: `${req.method} ${path} is not served` });
    }
  } catch (err) {
    console.error("receiver:", err);
    reply(res, 500, { error: String(err) });
  }
});

function stop() {
  server.close(() => process.exit(0));
  // Keep-alive connections would hold close() open.
  server.closeAllConnections();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (process.env.RECEIVER_EXIT_WITH_STDIN === "1") {
  process.stdin.on("end", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
}

server.listen(port, "127.0.0.1", () => {
  // The first line on stdout: how the tests learn the port.
  console.log(`listening 127.0.0.1:${server.address().port}`);
});
