// The floor of an HTTP sidecar that does the sidecar's Redis work: a bare node:http server
// making the same MemoryStore call the route makes (openStore on the same environment),
// reading bodies and writing replies with the same JSON functions, under the same runtime
// settings (the heap's growth limit, one compaction once ready). No router, validation,
// metrics, logging or deadlines of its own. What the sidecar costs above this is its own code;
// what this costs above direct calls is node's HTTP and a second process.
// Bundled and started by floor-process.ts, as the sidecar is run from its bundle.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createLogger } from '../../lib/logger.js';
import { jsonBytes, parseJsonBody } from '../../memory/json.js';
import { openStore } from '../../sidecar/backend.js';
import { loadSidecarConfig } from '../../sidecar/config.js';
import { compactHeapOnce, limitHeapGrowth } from '../../sidecar/runtime.js';

limitHeapGrowth();
const config = loadSidecarConfig();
const { store, redis } = openStore(config, createLogger('floor', 'error'));
const OWNER = { userId: 'user', appName: config.agentName };
const EVENTS = /^\/v1\/sessions\/([^/?]+)\/events(?:\?limit=(\d+))?$/;
let compacted = false;

function reply(res: ServerResponse, status: number, body: unknown): void {
  const bytes = jsonBytes(body) ?? Buffer.alloc(0);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': bytes.length,
  });
  res.end(bytes);
}

function body(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => resolve(parseJsonBody(Buffer.concat(chunks).toString('utf8'))));
  });
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '';
  if (url === '/readyz') {
    await store.ready();
    reply(res, 200, { status: 'ready' });
    if (!compacted) setImmediate(compactHeapOnce);
    compacted = true;
    return;
  }
  const m = EVENTS.exec(url);
  if (!m) return reply(res, 404, { error: 'not_found' });
  const id = decodeURIComponent(m[1] as string);
  if (req.method === 'POST') {
    const parsed = await body(req);
    const result = await store.appendEvents(id, Array.isArray(parsed) ? parsed : [parsed], OWNER);
    return reply(res, 201, { session_id: id, events: result.events });
  }
  const page = await store.readEvents(id, { limit: Number(m[2] ?? 100) });
  reply(res, 200, { session_id: id, events: page.events });
}

// An exit, not death by the signal, so that --cpu-prof and the like write their files.
process.once('SIGTERM', () => process.exit(0));
// As the sidecar starts: Redis connects (readiness waits for it) while the server listens.
redis.connect().catch(() => undefined);
createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  handle(req, res).catch((err: unknown) => reply(res, 503, { error: String(err) }));
}).listen(config.port, '127.0.0.1');
