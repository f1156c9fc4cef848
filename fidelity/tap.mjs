// A pass-through HTTP proxy that writes down, in full, every error Prism makes up.
//
// With `--errors`, Prism answers a request or response that breaks the spec with an
// `application/problem+json` body listing the violations, and logs only "Request terminated with
// error". The client (berth) shows a shortened line of that body; this tap keeps the whole of it.
//
// usage: node tap.mjs LISTEN_PORT UPSTREAM_URL LOG_FILE

import { appendFileSync } from "node:fs";
import http from "node:http";

const [port, upstream, logFile] = process.argv.slice(2);
if (!port || !upstream || !logFile) {
  console.error("usage: node tap.mjs LISTEN_PORT UPSTREAM_URL LOG_FILE");
  process.exit(2);
}
const target = new URL(upstream);

const server = http.createServer((request, response) => {
  const forwarded = http.request(
    {
      host: target.hostname,
      port: target.port,
      method: request.method,
      path: request.url,
      headers: request.headers,
    },
    (answer) => {
      response.writeHead(answer.statusCode, answer.rawHeaders);
      const problem = String(answer.headers["content-type"] ?? "").startsWith(
        "application/problem+json",
      );
      const chunks = [];
      answer.on("data", (chunk) => {
        if (problem) chunks.push(chunk);
        response.write(chunk);
      });
      answer.on("end", () => {
        response.end();
        if (problem) {
          const body = Buffer.concat(chunks).toString("utf8");
          appendFileSync(logFile, describe(request, answer.statusCode, body));
        }
      });
    },
  );
  forwarded.on("error", (error) => {
    response.writeHead(502, { "content-type": "text/plain" });
    response.end(`tap: ${error.message}\n`);
  });
  request.pipe(forwarded);
});
server.listen(Number(port), "127.0.0.1");

/** One line per violation: `METHOD URL -> STATUS: where: what`; the raw body if it is no list. */
function describe(request, status, body) {
  const head = `${request.method} ${request.url} -> ${status}`;
  try {
    const problem = JSON.parse(body);
    const violations = problem.validation ?? [];
    if (violations.length === 0) return `${head}: ${problem.title}: ${problem.detail}\n`;
    return violations
      .map((v) => `${head}: ${(v.location ?? []).join(".")}: ${v.message}\n`)
      .join("");
  } catch {
    return `${head}: ${body}\n`;
  }
}
