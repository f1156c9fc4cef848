// The benchmark's mittwald peer: what `mw app install` (the mw CLI) does, on the vendor's own JS
// client (@mittwald/api-client): list the Node.js app's versions and pick the recommended one,
// request the installation, then read it once a second until its current version is the desired
// one. One JSON line on stdout; any unexpected status or a timeout exits non-zero.
//
// usage: node mw-peer.mjs BASE_URL TOKEN PROJECT_ID DESCRIPTION [TIMEOUT_SECONDS]

import { MittwaldAPIV2Client, assertStatus } from "@mittwald/api-client";

const NODE_APP_ID = "3e7f920b-a711-4d2f-9871-661e1b41a2f0";
const POLL_MS = 1_000;

const [baseUrl, token, projectId, description, timeoutSeconds = "120"] = process.argv.slice(2);
if (!baseUrl || !token || !projectId || !description) {
  console.error("usage: node mw-peer.mjs BASE_URL TOKEN PROJECT_ID DESCRIPTION [TIMEOUT_SECONDS]");
  process.exit(2);
}
const deadline = Date.now() + Number(timeoutSeconds) * 1000;

// As the vendor documents it: a token, and `if-event-reached` on the reads after a write.
const client = MittwaldAPIV2Client.newWithToken(token).withEventConsistencyHandling();
client.axios.defaults.baseURL = baseUrl;
client.axios.defaults.timeout = 15_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const versions = await client.app.listAppversions({ appId: NODE_APP_ID });
  assertStatus(versions, 200);
  const version = versions.data.find((v) => v.recommended === true);
  if (!version) throw new Error("no recommended Node.js version");

  // The version's declared inputs with their defaults, as the CLI fills in what it is not given.
  const userInputs = (version.userInputs ?? [])
    .filter((input) => input.defaultValue !== undefined)
    .map((input) => ({ name: input.name, value: String(input.defaultValue) }));
  const requested = await client.app.requestAppinstallation({
    projectId,
    data: { appVersionId: version.id, description, updatePolicy: "none", userInputs },
  });
  assertStatus(requested, 201);
  const id = requested.data.id;

  // Bounded: one read a second until the deadline.
  for (let polls = 1; ; polls++) {
    const response = await client.app.getAppinstallation({ appInstallationId: id });
    assertStatus(response, 200);
    const { current, desired } = response.data.appVersion ?? {};
    if (current !== undefined && current === desired) {
      console.log(JSON.stringify({ id, phase: response.data.phase, polls, status: "ready" }));
      return;
    }
    if (Date.now() + POLL_MS > deadline) {
      throw new Error(`installation ${id} not ready within ${timeoutSeconds} s`);
    }
    await sleep(POLL_MS);
  }
}

main().catch((error) => {
  const response = error.response;
  const detail = response ? ` (${response.status} ${JSON.stringify(response.data)})` : "";
  console.error(`mw-peer: FAILED: ${error.message}${detail}`);
  process.exit(1);
});
