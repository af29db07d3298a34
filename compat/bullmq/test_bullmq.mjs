// Usage: node compat/bullmq/test_bullmq.mjs HOST PORT
//
// BullMQ, an unmodified queue library from npm (pinned in package-lock.json), runs jobs end to
// end against a server. Every queue operation in BullMQ is a Lua script sent with EVALSHA
// (cmsgpack-packed job options, streams for events, sorted sets for delays and priorities), so
// this exercises scripting as a real application uses it. A Queue adds jobs (plain, delayed,
// prioritized, retried with a backoff, removed on completion, one that always fails), a Worker
// processes them, QueueEvents (XREAD BLOCK on the events stream) reports each outcome, and the
// results are read back. The queue is obliterated at the end.
//
// Prints one line per check and last `N passed, M failed`; exits 1 if anything failed or the
// whole run took longer than 60 s.
import { Queue, QueueEvents, Worker } from 'bullmq';
import IORedis from 'ioredis';

const host = process.argv[2];
const port = Number(process.argv[3]);
if (!host || !Number.isInteger(port)) {
  console.error('usage: node test_bullmq.mjs HOST PORT');
  process.exit(2);
}

const DEADLINE_MS = 60_000;
const DELAY_MS = 1000;
const BACKOFF_MS = 300;

let passed = 0;
let failed = 0;
function pass(name) {
  passed += 1;
  console.log(`ok   [bullmq] ${name}`);
}
function fail(name, ...details) {
  failed += 1;
  console.log(`FAIL [bullmq] ${name}`);
  for (const line of details) console.log(`       ${line}`);
}
// canon(VALUE): JSON with object keys sorted (a hash read back need not keep the key order).
function canon(value) {
  return JSON.stringify(value, (_, v) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
    : v));
}
function check(name, expected, actual) {
  const e = canon(expected);
  const a = canon(actual);
  if (e === a) pass(name);
  else fail(name, `expected: ${e}`, `got:      ${a}`);
}
function summary() {
  console.log(`${passed} passed, ${failed} failed`);
}

// Errors the connections report (ioredis reconnects after each): listened to, so that they are
// neither printed again and again nor fatal, and shown if the run fails.
const errors = new Set();
const onError = (who) => (err) => errors.add(`${who}: ${err?.message ?? err}`);
// The whole run is bounded: a server that stops answering (ioredis reconnects forever) or a job
// that never completes must not hang CI.
const deadline = setTimeout(() => {
  fail(`the run finished within ${DEADLINE_MS / 1000} s`, ...[...errors].slice(0, 5));
  summary();
  process.exit(1);
}, DEADLINE_MS);

// waitFor(PREDICATE, MS): resolves true once PREDICATE() holds, false after MS.
async function waitFor(predicate, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return predicate();
}

// Workers need maxRetriesPerRequest: null (their blocking commands must not be cut short).
const connection = { host, port, maxRetriesPerRequest: null };
const name = `spindle-compat-${process.pid}-${Date.now()}`;
// A plain connection for checks below BullMQ; it does not reconnect, so a server that is not
// there fails the first check at once.
const raw = new IORedis({ host, port, maxRetriesPerRequest: 0, retryStrategy: () => null });
raw.on('error', onError('ioredis'));
let queue;
let events;
let worker;

async function main() {
  try {
    check('the server answers PING', 'PONG', await raw.ping());
  } catch (err) {
    fail('the server answers PING', String(err?.message ?? err));
    return;
  }
  queue = new Queue(name, { connection });
  queue.on('error', onError('Queue'));
  events = new QueueEvents(name, { connection });
  events.on('error', onError('QueueEvents'));
  await queue.waitUntilReady();
  await events.waitUntilReady();
  pass('Queue and QueueEvents connect (the server reports a Redis version BullMQ accepts)');

  // QueueEvents: what the events stream reported, job id -> list of event names (and data).
  const seen = new Map();
  const note = (id, what) => {
    if (!seen.has(id)) seen.set(id, []);
    seen.get(id).push(what);
  };
  const eventReturn = new Map();
  const progress = [];
  events.on('completed', ({ jobId, returnvalue }) => {
    note(jobId, 'completed');
    eventReturn.set(jobId, returnvalue);
  });
  events.on('failed', ({ jobId }) => note(jobId, 'failed'));
  events.on('progress', ({ jobId, data }) => progress.push([jobId, data]));

  // ---- add the jobs before any worker runs, so the order of processing is the queue's
  const plain = await queue.add('square', { n: 7 });
  const delayed = await queue.add('square', { n: 3 }, { delay: DELAY_MS });
  const low = await queue.add('prio', { tag: 'low' }, { priority: 5 });
  const high = await queue.add('prio', { tag: 'high' }, { priority: 1 });
  const flaky = await queue.add(
    'flaky',
    { n: 1 },
    { attempts: 3, backoff: { type: 'fixed', delay: BACKOFF_MS } },
  );
  const ephemeral = await queue.add('square', { n: 4 }, { removeOnComplete: true });
  const doomed = await queue.add('doomed', {}, { attempts: 1 });
  const bulk = await queue.addBulk([
    { name: 'square', data: { n: 10 } },
    { name: 'square', data: { n: 11 }, opts: { jobId: 'custom-id' } },
  ]);
  const all = [plain, delayed, low, high, flaky, ephemeral, doomed, ...bulk];
  check('job ids are the queue counter, then the custom id',
    ['1', '2', '3', '4', '5', '6', '7', '8', 'custom-id'], all.map((j) => j.id));

  check('states before any worker runs',
    ['waiting', 'delayed', 'prioritized', 'prioritized', 'waiting'],
    await Promise.all([plain, delayed, low, high, flaky].map((j) => j.getState())));
  check('getJobCounts before any worker runs',
    { waiting: 6, paused: 0, delayed: 1, prioritized: 2, active: 0, completed: 0, failed: 0 },
    await queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed'));

  const stored = await queue.getJob(flaky.id);
  check('options read back from the job hash (attempts, backoff)',
    { attempts: 3, backoff: { type: 'fixed', delay: BACKOFF_MS } },
    { attempts: stored?.opts?.attempts, backoff: stored?.opts?.backoff });
  check('data read back from the job hash', { n: 1 }, stored?.data);
  check('priority read back from the job hash', 1, (await queue.getJob(high.id))?.priority);

  // ---- the worker: one at a time so the order of processing is the queue's
  const order = [];
  const attempts = new Map();
  const workerFailed = [];
  const workerCompleted = [];
  const workerErrors = new Set();
  worker = new Worker(
    name,
    async (job) => {
      order.push(job.id);
      attempts.set(job.id, (attempts.get(job.id) ?? 0) + 1);
      switch (job.name) {
        case 'square':
          if (job.id === plain.id) {
            await job.updateProgress(50);
            await job.log('halfway');
          }
          return { square: job.data.n * job.data.n };
        case 'prio':
          return job.data.tag;
        case 'flaky':
          if (job.attemptsMade === 0) throw new Error('first attempt fails');
          return 'recovered';
        case 'doomed':
          throw new Error('always fails');
        default:
          throw new Error(`unexpected job ${job.name}`);
      }
    },
    { connection, concurrency: 1, autorun: false },
  );
  worker.on('failed', (job, err) => workerFailed.push([job?.id, err.message]));
  worker.on('completed', (job) => workerCompleted.push(job.id));
  worker.on('error', (err) => workerErrors.add(String(err?.message ?? err)));
  worker.run().catch((err) => workerErrors.add(`run: ${err?.message ?? err}`));

  const finished = [...all.filter((j) => j !== doomed).map((j) => j.id)];
  const done = await waitFor(
    () => finished.every((id) => seen.get(id)?.includes('completed'))
      && seen.get(doomed.id)?.includes('failed'),
    30_000,
  );
  if (done) pass('QueueEvents reported completed for every job and failed for the failing one');
  else {
    fail('QueueEvents reported completed for every job and failed for the failing one',
      `seen: ${JSON.stringify([...seen])}`, `worker errors: ${JSON.stringify([...workerErrors])}`);
  }

  // First attempts: the waiting list in order, then by priority (1 before 5). The flaky job's
  // retry waits for its backoff (where it lands among the rest depends on the machine's
  // speed); the delayed job waits longer still and runs last.
  const firsts = order.filter((id, i) => order.indexOf(id) === i && id !== delayed.id);
  check('order of first attempts (waiting list in order, then priority 1 before 5)',
    ['1', '5', '6', '7', '8', 'custom-id', '4', '3'], firsts);
  check('the delayed job ran last', delayed.id, order.at(-1));
  check('worker attempts per job (the flaky one twice)',
    { 1: 1, 2: 1, 3: 1, 4: 1, 5: 2, 6: 1, 7: 1, 8: 1, 'custom-id': 1 },
    Object.fromEntries([...attempts].sort()));
  check('worker failed events (first attempt of the flaky job, the doomed job)',
    [[flaky.id, 'first attempt fails'], [doomed.id, 'always fails']], workerFailed);
  check('worker completed events', 8, workerCompleted.length);
  check('no worker errors', [], [...workerErrors]);
  check('no connection errors', [], [...errors]);

  // ---- results read back
  check('return value from QueueEvents', { square: 49 }, eventReturn.get(plain.id));
  const plainDone = await queue.getJob(plain.id);
  check('job.returnvalue read back', { square: 49 }, plainDone?.returnvalue);
  check('progress reported through QueueEvents', [[plain.id, 50]], progress);
  check('job log read back', { logs: ['halfway'], count: 1 }, await queue.getJobLogs(plain.id));
  check('return values of the bulk jobs', [{ square: 100 }, { square: 121 }],
    await Promise.all(bulk.map(async (j) => (await queue.getJob(j.id))?.returnvalue)));
  check('priority jobs return their tags', ['high', 'low'],
    await Promise.all([high, low].map(async (j) => (await queue.getJob(j.id))?.returnvalue)));

  const flakyDone = await queue.getJob(flaky.id);
  check('retried job: completed with its value after one failure',
    { state: 'completed', returnvalue: 'recovered', attemptsMade: 2, attemptsStarted: 2 },
    { state: await flakyDone?.getState(), returnvalue: flakyDone?.returnvalue,
      attemptsMade: flakyDone?.attemptsMade, attemptsStarted: flakyDone?.attemptsStarted });
  const backoffWaited = flakyDone ? flakyDone.finishedOn - flakyDone.timestamp : -1;
  if (backoffWaited >= BACKOFF_MS) pass(`retried job waited its ${BACKOFF_MS} ms backoff`);
  else fail(`retried job waited its ${BACKOFF_MS} ms backoff`, `finished after ${backoffWaited} ms`);

  const delayedDone = await queue.getJob(delayed.id);
  const delayedAfter = delayedDone ? delayedDone.processedOn - delayedDone.timestamp : -1;
  check('delayed job: completed with its value', { state: 'completed', returnvalue: { square: 9 } },
    { state: await delayedDone?.getState(), returnvalue: delayedDone?.returnvalue });
  if (delayedAfter >= DELAY_MS) pass(`delayed job ran after its ${DELAY_MS} ms delay`);
  else fail(`delayed job ran after its ${DELAY_MS} ms delay`, `processed after ${delayedAfter} ms`);

  check('removeOnComplete job is gone', undefined, await queue.getJob(ephemeral.id));
  const doomedDone = await queue.getJob(doomed.id);
  check('failed job: state and failedReason',
    { state: 'failed', failedReason: 'always fails', attemptsMade: 1 },
    { state: await doomedDone?.getState(), failedReason: doomedDone?.failedReason,
      attemptsMade: doomedDone?.attemptsMade });
  check('waitUntilFinished on a completed job', { square: 100 },
    await bulk[0].waitUntilFinished(events, 5000));

  check('getJobCounts at the end',
    { waiting: 0, paused: 0, delayed: 0, prioritized: 0, active: 0, completed: 7, failed: 1 },
    await queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed'));
  check('getCompleted lists the kept jobs', 7, (await queue.getCompleted()).length);

  // ---- close everything, then obliterate the queue
  await worker.close();
  await events.close();
  pass('Worker and QueueEvents close');
  await queue.obliterate({ force: true });
  check('obliterate leaves no key of the queue', [], await raw.keys(`bull:${name}:*`));
  await queue.close();
  pass('Queue closes');
}

try {
  await main();
} catch (err) {
  fail('the run completed without an exception', String(err?.stack ?? err));
}
// Best-effort cleanup when a check threw half-way (the queue may still hold keys).
for (const closable of [worker, events, queue]) {
  try {
    await closable?.close();
  } catch {
    // already closed
  }
}
try {
  const left = queue ? await raw.keys(`bull:${name}:*`) : [];
  if (left.length > 0) await raw.del(...left);
} catch {
  // the server is gone: nothing to clean
}
raw.disconnect();
clearTimeout(deadline);
summary();
process.exit(failed > 0 ? 1 : 0);
