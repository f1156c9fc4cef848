// The two pass-through proxies around Prism for Cloud Controller v3 (fidelity/prism-cf.sh):
//
//   client -> FRONT -> prism proxy --errors (spec/cloudfoundry-v3.json) -> BACK -> berth sim /cf
//                  \-> berth sim (/uaa, /log-cache: not Cloud Controller, not in the spec)
//
// FRONT (client side): `/cf/...` goes to Prism without the `/cf` prefix (the spec's paths are
// `/`, `/v3/...`); `/uaa/...` and `/log-cache/...` go straight to the simulator; anything else
// is refused (501), so nothing reaches the Cloud Controller around Prism. It writes down, in
// full, every error Prism makes up (application/problem+json, as tap.mjs does).
//
// BACK (Prism's upstream): forwards to the simulator with `Host:` set to FRONT's, so the
// simulator's absolute links (root document, pagination, `links`) point at FRONT again and a
// client that follows them stays behind Prism, as behind a router that keeps the Host header.
//
// Two things Prism 5.14 cannot carry are worked around here, each counted in the log file:
//  * binary bodies: Prism reads every non-JSON body as UTF-8 text and forwards that string, so
//    the zip of a multipart package upload would arrive mangled. FRONT keeps the raw body, gives
//    Prism a copy with every byte >= 0x80 replaced by "?" (same length, same multipart
//    structure: Prism still validates the parts), and BACK, finding that copy unchanged,
//    sends the raw body on. A copy that came back changed is a failure ("MANGLED").
//  * the bearer scheme: Prism's oauth2 check is /^Bearer\s.+$/, case-sensitive, while the auth
//    scheme is case-insensitive (RFC 7235 section 2.1) and the cf CLI, like berth, sends UAA's
//    `token_type` as it comes: "bearer". FRONT capitalises the scheme, nothing else.
//
// usage: node cf-front.mjs FRONT_PORT BACK_PORT PRISM_URL SIM_URL LOG_FILE
// Writes "listening" on stdout once both ports accept.

import { appendFileSync } from "node:fs";
import http from "node:http";

const [frontPort, backPort, prismUrl, simUrl, logFile] = process.argv.slice(2);
if (!frontPort || !backPort || !prismUrl || !simUrl || !logFile) {
  console.error("usage: node cf-front.mjs FRONT_PORT BACK_PORT PRISM_URL SIM_URL LOG_FILE");
  process.exit(2);
}
const prism = new URL(prismUrl);
const sim = new URL(simUrl);
const frontHost = `127.0.0.1:${frontPort}`;
const BODY_ID = "x-fidelity-body";
/** Raw bodies FRONT kept back from Prism, and the copies Prism was given, by id. */
const kept = new Map();
let nextId = 1;
const counts = { sanitized: 0, bearer: 0 };

function note(line) {
  appendFileSync(logFile, `${line}\n`);
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

/** Sends method/path/headers/body to target; pipes the answer to `response`. */
function forward(target, request, response, path, headers, body, onAnswer) {
  const outgoing = http.request(
    { host: target.hostname, port: target.port, method: request.method, path, headers },
    (answer) => {
      response.writeHead(answer.statusCode, answer.rawHeaders);
      const chunks = [];
      answer.on("data", (chunk) => {
        chunks.push(chunk);
        response.write(chunk);
      });
      answer.on("end", () => {
        response.end();
        onAnswer?.(answer, Buffer.concat(chunks));
      });
    },
  );
  outgoing.on("error", (error) => {
    note(`${request.method} ${request.url} -> 502: ${error.message}`);
    response.writeHead(502, { "content-type": "text/plain" });
    response.end(`cf-front: ${error.message}\n`);
  });
  outgoing.end(body);
}

function isJson(headers) {
  const type = String(headers["content-type"] ?? "").toLowerCase();
  return type === "" || type.startsWith("application/json") || /^application\/[^;]*\+json/.test(type);
}

const front = http.createServer(async (request, response) => {
  const body = await readBody(request);
  const url = request.url ?? "/";
  const headers = { ...request.headers };
  if (url === "/cf" || url.startsWith("/cf/") || url.startsWith("/cf?")) {
    const path = url.slice(3) || "/";
    const auth = headers.authorization;
    if (typeof auth === "string" && /^bearer\s/i.test(auth) && !auth.startsWith("Bearer")) {
      headers.authorization = `Bearer${auth.slice(6)}`;
      counts.bearer += 1;
      if (counts.bearer === 1) note(`TOLERATED: lower-case "bearer" scheme capitalised for Prism (first: ${request.method} ${url})`);
    }
    let sent = body;
    let id;
    if (body.length > 0 && !isJson(headers) && body.some((byte) => byte >= 0x80)) {
      id = String(nextId++);
      sent = Buffer.from(body.map((byte) => (byte >= 0x80 ? 0x3f : byte)));
      kept.set(id, { raw: body, copy: sent });
      headers[BODY_ID] = id;
      counts.sanitized += 1;
      note(`TOLERATED: binary body of ${request.method} ${url} (${body.length} bytes) given to Prism as ASCII, sent on raw`);
    }
    headers.host = `${prism.hostname}:${prism.port}`;
    headers["content-length"] = String(sent.length);
    delete headers["transfer-encoding"];
    forward(prism, request, response, path, headers, sent, (answer, answerBody) => {
      if (id !== undefined) kept.delete(id); // Prism may have answered without forwarding
      const type = String(answer.headers["content-type"] ?? "");
      if (type.startsWith("application/problem+json")) {
        note(describe(request, answer.statusCode, answerBody.toString("utf8")));
      }
    });
  } else if (/^\/(uaa|log-cache)(\/|\?|$)/.test(url)) {
    headers.host = frontHost;
    headers["content-length"] = String(body.length);
    delete headers["transfer-encoding"];
    forward(sim, request, response, url, headers, body);
  } else {
    note(`REFUSED: ${request.method} ${url} (neither /cf, /uaa nor /log-cache)`);
    response.writeHead(501, { "content-type": "text/plain" });
    response.end("cf-front: only /cf, /uaa and /log-cache are proxied\n");
  }
});

const back = http.createServer(async (request, response) => {
  let body = await readBody(request);
  const headers = { ...request.headers };
  const id = headers[BODY_ID];
  if (id !== undefined) {
    delete headers[BODY_ID];
    const entry = kept.get(id);
    kept.delete(id);
    if (entry === undefined || !entry.copy.equals(body)) {
      note(`MANGLED: ${request.method} ${request.url}: Prism forwarded a body other than the one it validated`);
      response.writeHead(502, { "content-type": "text/plain" });
      response.end("cf-front: the body Prism forwarded is not the one it was given\n");
      return;
    }
    body = entry.raw;
  }
  headers.host = frontHost;
  headers["content-length"] = String(body.length);
  delete headers["transfer-encoding"];
  forward(sim, request, response, request.url, headers, body);
});

/** One line per violation: `METHOD URL -> STATUS: where: what`; the raw body if it is no list. */
function describe(request, status, body) {
  const head = `${request.method} ${request.url} -> ${status}`;
  try {
    const problem = JSON.parse(body);
    const violations = problem.validation ?? [];
    if (violations.length === 0) return `${head}: ${problem.title}: ${problem.detail}`;
    return violations.map((v) => `${head}: ${(v.location ?? []).join(".")}: ${v.message}`).join("\n");
  } catch {
    return `${head}: ${body}`;
  }
}

let listening = 0;
for (const [server, port] of [[front, frontPort], [back, backPort]]) {
  server.keepAliveTimeout = 30_000;
  server.listen(Number(port), "127.0.0.1", () => {
    listening += 1;
    if (listening === 2) console.log("listening");
  });
}
process.on("SIGTERM", () => {
  note(`SUMMARY: ${counts.sanitized} binary bodies carried around Prism, ${counts.bearer} bearer schemes capitalised`);
  process.exit(0);
});
