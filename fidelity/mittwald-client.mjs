// The vendor's own JS client (@mittwald/api-client) against the simulator: list apps and
// versions, request an installation, read it until ready, change its entrypoint, list the
// project's installations, read the project, provoke three error answers, remove the
// installation. Any unexpected status, missing field or timeout exits non-zero.
//
// The client checks no schemas itself: run it through Prism as well (fidelity/prism.sh does) to
// have every request and response checked against the vendor spec.
//
// usage: node mittwald-client.mjs BASE_URL [TOKEN]

import { readFileSync } from "node:fs";
import { MittwaldAPIV2Client, assertStatus, extractTotalCountHeader } from "@mittwald/api-client";

const [baseUrl, token = "sim-token"] = process.argv.slice(2);
if (!baseUrl) {
  console.error("usage: node mittwald-client.mjs BASE_URL [TOKEN]");
  process.exit(2);
}

const NODE_APP_ID = "3e7f920b-a711-4d2f-9871-661e1b41a2f0";
const PROJECT_ID = "0b1e7c52-6f0a-4d8e-9a3b-5c2d1e0f4a77";
const READY_WITHIN_MS = 60_000;
const POLL_MS = 250;

const version = JSON.parse(
  readFileSync(new URL("./node_modules/@mittwald/api-client/package.json", import.meta.url)),
).version;

// As the vendor documents: a token, and `if-event-reached` on reads after a write.
const client = MittwaldAPIV2Client.newWithToken(token).withEventConsistencyHandling();
client.axios.defaults.baseURL = baseUrl;
client.axios.defaults.timeout = 15_000;

function check(condition, message, body) {
  if (!condition) {
    throw new Error(`${message}${body === undefined ? "" : `: ${JSON.stringify(body)}`}`);
  }
}

function step(text) {
  console.log(`mittwald-client: ${text}`);
}

async function waitUntilReady(id, what) {
  const deadline = Date.now() + READY_WITHIN_MS;
  const phases = [];
  for (let attempt = 0; attempt < READY_WITHIN_MS / POLL_MS; attempt++) {
    const response = await client.app.getAppinstallation({ appInstallationId: id });
    assertStatus(response, 200);
    const installation = response.data;
    if (phases.at(-1) !== installation.phase) phases.push(installation.phase);
    const { desired, current } = installation.appVersion ?? {};
    if (installation.phase === "ready" && current !== undefined && current === desired) {
      step(`${what}: ${phases.join(" -> ")}`);
      return installation;
    }
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`${what}: not ready within ${READY_WITHIN_MS} ms (phases ${phases.join(", ")})`);
}

async function main() {
  step(`@mittwald/api-client ${version} against ${baseUrl}`);

  const apps = await client.app.listApps();
  assertStatus(apps, 200);
  const node = apps.data.find((app) => app.id === NODE_APP_ID);
  check(node && node.name === "Node.js", "Node.js is not among the apps", apps.data);

  const versions = await client.app.listAppversions({
    appId: NODE_APP_ID,
    queryParameters: { recommended: true },
  });
  assertStatus(versions, 200);
  const recommended = versions.data.find((v) => v.recommended === true);
  check(recommended, "no recommended Node.js version", versions.data);
  const one = await client.app.getAppversion({
    appId: NODE_APP_ID,
    appVersionId: recommended.id,
  });
  assertStatus(one, 200);
  const entrypoint = one.data.userInputs?.find((input) => input.name === "entrypoint");
  check(entrypoint, "the version declares no entrypoint input", one.data);
  step(`Node.js ${one.data.externalVersion}, entrypoint default "${entrypoint.defaultValue}"`);

  const requested = await client.app.requestAppinstallation({
    projectId: PROJECT_ID,
    data: {
      appVersionId: recommended.id,
      description: "vendor client check",
      updatePolicy: "none",
      userInputs: [{ name: "entrypoint", value: "yarn start" }],
    },
  });
  assertStatus(requested, 201);
  const id = requested.data.id;
  check(typeof id === "string", "no id in the answer to the installation request", requested.data);
  check(requested.headers.get("etag"), "no etag on the installation request's answer");
  step(`requested installation ${id}`);

  const installed = await waitUntilReady(id, "installation");
  check(installed.projectId === PROJECT_ID, "projectId differs", installed);
  check(installed.appId === NODE_APP_ID, "appId differs", installed);

  const patched = await client.app.patchAppinstallation({
    appInstallationId: id,
    data: { userInputs: [{ name: "entrypoint", value: "node server.js" }] },
  });
  assertStatus(patched, 204);
  const changed = await waitUntilReady(id, "entrypoint change");
  const value = changed.userInputs.find((input) => input.name === "entrypoint")?.value;
  check(value === "node server.js", "the entrypoint did not change", changed.userInputs);

  const listed = await client.app.listAppinstallations({
    projectId: PROJECT_ID,
    queryParameters: { appIds: [NODE_APP_ID], limit: 10 },
  });
  assertStatus(listed, 200);
  check(
    listed.data.some((installation) => installation.id === id),
    "the installation is not listed",
    listed.data,
  );
  const total = extractTotalCountHeader(listed);
  step(`listed ${listed.data.length} of ${total} installation(s) in the project`);

  const project = await client.project.getProject({ projectId: PROJECT_ID });
  assertStatus(project, 200);
  check(project.data.id === PROJECT_ID, "the project has another id", project.data);

  // The platform's error answers, which Prism checks against the spec's error schemas.
  const wordpress = apps.data.find((app) => app.name === "WordPress");
  check(wordpress, "WordPress is not among the apps", apps.data);
  const wordpressVersions = await client.app.listAppversions({ appId: wordpress.id });
  assertStatus(wordpressVersions, 200);
  const refused = await client.app.requestAppinstallation({
    projectId: PROJECT_ID,
    data: {
      appVersionId: wordpressVersions.data[0].id,
      description: "vendor client check without the required inputs",
      updatePolicy: "none",
      userInputs: [],
    },
  });
  assertStatus(refused, 400);
  check(
    refused.data.type === "ValidationError" && refused.data.validationErrors?.length > 0,
    "a request without the required inputs is not a validation error",
    refused.data,
  );
  const unknownInput = await client.app.patchAppinstallation({
    appInstallationId: id,
    data: { userInputs: [{ name: "no-such-input", value: "x" }] },
  });
  assertStatus(unknownInput, 400);
  const missing = await client.app.getAppinstallation({
    appInstallationId: "00000000-0000-4000-8000-000000000000",
  });
  assertStatus(missing, 404);
  check(typeof missing.data.message === "string", "a 404 without a message", missing.data);
  step("refused: missing inputs (400), an unknown input (400), an unknown installation (404)");

  const removed = await client.app.uninstallAppinstallation({ appInstallationId: id });
  assertStatus(removed, 204);
  const gone = await client.app.getAppinstallation({ appInstallationId: id });
  assertStatus(gone, 404);
  step("removed it; all good");
}

main().catch((error) => {
  const response = error.response;
  const detail = response
    ? ` (${response.config?.method?.toUpperCase()} ${response.config?.url} -> ${response.status} ${JSON.stringify(response.data)})`
    : "";
  console.error(`mittwald-client: FAILED: ${error.message}${detail}`);
  process.exit(1);
});
