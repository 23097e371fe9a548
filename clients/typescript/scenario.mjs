// Runs a short client scenario against the activity service of a running Leadflow suite:
// UpsertLead, TrackActivity (and its idempotent retry), GetLead, and an INVALID_ARGUMENT for
// an unknown activity type. The contracts are loaded at run time with @grpc/proto-loader, so
// no generated code is kept in the repository.
//
// Usage: LEADFLOW_ACTIVITY_ADDR=127.0.0.1:50051 node scenario.mjs (http://127.0.0.1:50051 works too)
// The exit status is 0 when every check passed and 1 otherwise.

import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

// Deadline of every call in milliseconds. Single-lead calls take milliseconds on a local
// suite, so 5 s only trips on a hung server.
const CALL_TIMEOUT_MS = 5000;
// An activity type number that leadflow.type.v1.ActivityType does not define.
const UNKNOWN_ACTIVITY_TYPE = 999;

const scriptDir = path.dirname(fileURLToPath(import.meta.url));
const protoDir = path.resolve(scriptDir, '..', '..', 'proto');

// protobufjs, which proto-loader depends on, ships google/protobuf/*.proto and resolves the
// well-known types such as timestamp.proto from its built-in copies.
const requireFromLoader = createRequire(createRequire(import.meta.url).resolve('@grpc/proto-loader'));
const protobufjsDir = path.dirname(requireFromLoader.resolve('protobufjs'));

class CheckFailed extends Error {}

function check(condition, message) {
  if (!condition) {
    throw new CheckFailed(message);
  }
}

// Returns the host:port in environment variable `variable`. The `leadflow` CLI reads the same
// variables as URLs, so an `http://` prefix is dropped.
function readAddress(variable) {
  const address = (process.env[variable] ?? '').trim().replace(/^http:\/\//, '').replace(/\/$/, '');
  if (!address) {
    console.error(`${variable} is not set; set it to the host:port of the service, for example 127.0.0.1:50051`);
    process.exit(1);
  }
  return address;
}

function deadline() {
  return new Date(Date.now() + CALL_TIMEOUT_MS);
}

// Calls a unary method with a deadline and returns a promise of the response.
function callUnary(client, method, request, metadata = new grpc.Metadata()) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: deadline() }, (error, response) => {
      if (error) {
        reject(error);
      } else {
        resolve(response);
      }
    });
  });
}

// Calls a unary method that must fail and returns the error; a success throws CheckFailed.
async function callExpectingError(client, method, request) {
  try {
    await callUnary(client, method, request);
  } catch (error) {
    return error;
  }
  throw new CheckFailed(`${method} succeeded; expected an error`);
}

function describeError(error) {
  if (error instanceof CheckFailed) {
    return error.message;
  }
  if (typeof error?.code === 'number') {
    return `RPC failed with ${grpc.status[error.code]}: ${error.details}`;
  }
  return String(error?.stack ?? error);
}

function loadActivityService() {
  const definition = protoLoader.loadSync('leadflow/activity/v1/activity.proto', {
    includeDirs: [protoDir, protobufjsDir],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).leadflow.activity.v1.ActivityService;
}

function waitForReady(client, address) {
  return new Promise((resolve, reject) => {
    client.waitForReady(deadline(), (error) => {
      if (error) {
        reject(new CheckFailed(`could not connect to ${address} within ${CALL_TIMEOUT_MS} ms; is the suite running? (${error.message})`));
      } else {
        resolve();
      }
    });
  });
}

async function main() {
  const address = readAddress('LEADFLOW_ACTIVITY_ADDR');
  const ActivityService = loadActivityService();
  const client = new ActivityService(address, grpc.credentials.createInsecure());
  await waitForReady(client, address);

  const runId = randomUUID().replaceAll('-', '').slice(0, 12);
  const email = `scenario-js-${runId}@example.com`;
  const idempotencyKey = `scenario-js-${runId}-page-view`;
  const state = { leadId: '' };
  console.log(`lead e-mail: ${email}`);

  const steps = [
    ['UpsertLead creates the lead', async () => {
      const response = await callUnary(client, 'UpsertLead', {
        email,
        source: 'newsletter',
        request_id: randomUUID(),
      });
      check(response.created === true, `UpsertLead returned created=${response.created} for new e-mail ${email}`);
      check(response.lead.email === email, `UpsertLead stored e-mail ${response.lead.email}, expected ${email}`);
      check(response.lead.lead_id !== '', 'UpsertLead returned an empty lead_id');
      state.leadId = response.lead.lead_id;
    }],
    ['TrackActivity stores a page view', async () => {
      const response = await callUnary(client, 'TrackActivity', {
        lead: { lead_id: state.leadId },
        type: 'ACTIVITY_TYPE_PAGE_VIEW',
        properties: { url: '/pricing' },
        idempotency_key: idempotencyKey,
      });
      check(response.created === true, `TrackActivity returned created=${response.created}, expected true`);
      check(response.activity.type === 'ACTIVITY_TYPE_PAGE_VIEW',
        `TrackActivity stored type ${response.activity.type}, expected ACTIVITY_TYPE_PAGE_VIEW`);
      check(response.activity.properties.url === '/pricing',
        `TrackActivity stored url ${response.activity.properties.url}, expected /pricing`);
    }],
    ['TrackActivity retry with the same key stores nothing', async () => {
      const response = await callUnary(client, 'TrackActivity', {
        lead: { lead_id: state.leadId },
        type: 'ACTIVITY_TYPE_PAGE_VIEW',
        properties: { url: '/pricing' },
        idempotency_key: idempotencyKey,
      });
      check(response.created === false, `the retry returned created=${response.created}, expected false`);
    }],
    ['GetLead returns the lead by id and by e-mail', async () => {
      const byId = await callUnary(client, 'GetLead', { lead: { lead_id: state.leadId } });
      check(byId.lead.email === email, `GetLead by id returned e-mail ${byId.lead.email}, expected ${email}`);
      check(byId.lead.source === 'newsletter', `GetLead returned source ${byId.lead.source}, expected newsletter`);

      const byEmail = await callUnary(client, 'GetLead', { lead: { email: email.toUpperCase() } });
      check(byEmail.lead.lead_id === state.leadId,
        `GetLead by upper-case e-mail returned lead ${byEmail.lead.lead_id}, expected ${state.leadId}`);
    }],
    [`TrackActivity with type ${UNKNOWN_ACTIVITY_TYPE} is INVALID_ARGUMENT`, async () => {
      const error = await callExpectingError(client, 'TrackActivity', {
        lead: { lead_id: state.leadId },
        type: UNKNOWN_ACTIVITY_TYPE,
        idempotency_key: `scenario-js-${runId}-unknown-type`,
      });
      check(error.code === grpc.status.INVALID_ARGUMENT,
        `TrackActivity returned ${grpc.status[error.code] ?? error.code} (${error.details}), expected INVALID_ARGUMENT`);
      // The status message is English for developers and names the value at fault.
      check(String(error.details).includes(String(UNKNOWN_ACTIVITY_TYPE)),
        `the status message ${JSON.stringify(error.details)} does not name the value ${UNKNOWN_ACTIVITY_TYPE}`);
      check(error.metadata?.get('grpc-status-details-bin').length === 1,
        'the error has no grpc-status-details-bin trailer with the google.rpc.Status details');
    }],
  ];

  let passed = 0;
  let failed = 0;
  let failedStep = '';
  for (const [name, step] of steps) {
    if (failedStep) {
      failed += 1;
      console.log(`FAIL ${name}: not run because '${failedStep}' failed`);
      continue;
    }
    try {
      await step();
      passed += 1;
      console.log(`PASS ${name}`);
    } catch (error) {
      failed += 1;
      failedStep = name;
      console.log(`FAIL ${name}: ${describeError(error)}`);
    }
  }

  client.close();
  console.log(`typescript scenario: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (exitCode) => process.exit(exitCode),
  (error) => {
    console.error(describeError(error));
    process.exit(1);
  },
);
