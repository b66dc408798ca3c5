import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from './errors.js';
import { errorStatuses, type Route, type RouteSpec } from './http.js';
import { LOOPBACK_HOSTS, Router, type DispatchHooks } from './router.js';
import { object, optional, string, wholeNumber } from './schema.js';
import { sessionId } from './validation.js';

interface Deps {
  gate: Promise<void>;
}

const route = <P, Q, B, S extends number>(spec: RouteSpec<Deps, P, Q, B, S>) =>
  spec as unknown as Route<Deps>;

const ROUTES = [
  route({
    name: 'doc',
    method: 'GET',
    path: '/doc.json',
    summary: 'a dot in the path',
    quiet: true,
    responses: { 200: { description: 'ok' } },
    handle: () => ({ status: 200, body: { doc: true } }),
  }),
  route({
    name: 'get',
    method: 'GET',
    path: '/things/{id}',
    summary: 'one',
    params: { id: { schema: sessionId, label: 'thing id' } },
    query: object({ n: optional(wholeNumber(1, 5)) }, false),
    responses: { 200: { description: 'ok' } },
    errors: [404],
    handle: ({ params, query }) => {
      if (params.id === 'missing') throw new NotFoundError('no such thing');
      return { status: 200, body: { id: params.id, n: query.n ?? null } };
    },
  }),
  route({
    name: 'put',
    method: 'POST',
    path: '/things/{id}',
    summary: 'held until the gate opens',
    params: { id: { schema: sessionId, label: 'thing id' } },
    body: { schema: object({ name: string() }, true), default: { name: 'default' } },
    responses: { 201: { description: 'ok' } },
    handle: async ({ body }, { gate }) => {
      await gate;
      return { status: 201, body };
    },
  }),
  route({
    name: 'boom',
    method: 'DELETE',
    path: '/things/{id}',
    summary: 'fails',
    params: { id: { schema: sessionId, label: 'thing id' } },
    responses: { 204: { description: 'never' } },
    handle: () => {
      throw new Error('secret internals');
    },
  }),
];

const QUIET_HOOKS: DispatchHooks = {
  responded: () => undefined,
  failed: () => undefined,
  abandoned: () => undefined,
  overflowed: () => undefined,
};

let server: Server;
let base: string;
let router: Router<Deps>;
let open: () => void;
const responded: { template: string; status: number; quiet: boolean }[] = [];
const failed: unknown[] = [];

beforeAll(async () => {
  const gate = new Promise<void>((resolve) => (open = resolve));
  router = new Router(
    ROUTES,
    { gate },
    {
      hosts: LOOPBACK_HOSTS,
      bodyLimitBytes: 64,
      hooks: {
        ...QUIET_HOOKS,
        responded: ({ route: template, status, quiet }) =>
          responded.push({ template, status, quiet }),
        failed: (err) => failed.push(err),
      },
    },
  );
  server = createServer(router.listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  open();
  await new Promise((resolve) => server.close(resolve));
});

/** One request; `type: null` sends no Content-Type. With `host`, a raw request (fetch forbids setting Host). */
async function ask(
  method: string,
  path: string,
  body?: string,
  type: string | null = 'application/json',
  host?: string,
) {
  const headers: Record<string, string> = {};
  if (type !== null && (body !== undefined || method === 'POST')) headers['content-type'] = type;
  if (host === undefined) {
    const res = await fetch(base + path, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    return { status: res.status, headers: res.headers, body: (await res.text()) || undefined };
  }
  return new Promise<{ status: number; headers: Headers; body: string }>((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: { ...headers, host } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: new Headers(), body: text }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('router', () => {
  it('matches exact paths and templates, and checks params and query in that order', async () => {
    expect(await ask('GET', '/doc.json')).toMatchObject({ status: 200, body: '{"doc":true}' });
    expect((await ask('GET', '/docXjson')).status).toBe(404);
    expect((await ask('GET', '/things/a%40b?n=2')).body).toBe('{"id":"a@b","n":2}');
    expect((await ask('GET', '/things/a:b?n=9')).body).toMatch(/thing id: may hold only/);
    expect((await ask('GET', '/things/ok?n=9')).body).toMatch(/query\.n: must be at most 5/);
    expect((await ask('GET', '/things/%ZZ')).body).toMatch(/not valid percent-encoding/);
    expect((await ask('GET', '/things/missing')).status).toBe(404);
  });

  it('answers 404 for no path, 405 with Allow for no method, in the error shape', async () => {
    const none = await ask('GET', '/nothing');
    expect(none.body).toBe('{"error":{"code":"not_found","message":"no route GET /nothing"}}');
    const wrong = await ask('PUT', '/things/x');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, POST, DELETE');
    expect(wrong.body).toMatch(/"code":"method_not_allowed"/);
    const quiet = responded.filter((r) => r.template === '/doc.json');
    expect(quiet.every((r) => r.quiet)).toBe(true);
    expect(responded.find((r) => r.status === 405)?.template).toBe('unmatched');
  });

  it('reads the body: default when empty, 413 past the limit, 415 when not JSON', async () => {
    open();
    expect((await ask('POST', '/things/x')).body).toBe('{"name":"default"}');
    expect((await ask('POST', '/things/x', '{"name":"n"}')).status).toBe(201);
    const big = await ask('POST', '/things/x', JSON.stringify({ name: 'x'.repeat(100) }));
    expect(big.status).toBe(413);
    expect(big.headers.get('connection')).toBe('close');
    expect((await ask('POST', '/things/x', 'name=n', 'text/plain')).status).toBe(415);
    expect((await ask('POST', '/things/x', '{"name":1}')).body).toMatch(/body\.name/);
  });

  it('needs a JSON content type on a write even with no body (a browser sends none without a CORS preflight)', async () => {
    expect((await ask('POST', '/things/x', undefined, null)).status).toBe(415);
    expect((await ask('POST', '/things/x', '{"name":"n"}', 'text/plain')).status).toBe(415);
    expect(
      (await ask('POST', '/things/x', undefined, 'application/json; charset=utf-8')).status,
    ).toBe(201);
  });

  it('answers only to loopback names in Host (no DNS rebinding)', async () => {
    for (const host of ['127.0.0.1', 'localhost:8790', '[::1]:1', 'LOCALHOST']) {
      expect((await ask('GET', '/doc.json', undefined, null, host)).status, host).toBe(200);
    }
    for (const host of [
      'evil.example',
      'evil.example:8790',
      '127.0.0.1.evil.example',
      '10.0.0.5',
    ]) {
      const res = await ask('GET', '/doc.json', undefined, null, host);
      expect(res.status, host).toBe(403);
      expect(res.body).toMatch(/forbidden_host/);
    }
  });

  it('answers a thrown non-ApiError with a 500 that carries no internals', async () => {
    const res = await ask('DELETE', '/things/x');
    expect(res.status).toBe(500);
    expect(res.body).toBe('{"error":{"code":"internal","message":"internal error"}}');
    expect(String(failed.at(-1))).toMatch(/secret internals/);
  });

  it('lists the error statuses each route can give', () => {
    expect(ROUTES.map((r) => errorStatuses(r))).toEqual([
      [403, 500],
      [400, 403, 404, 500],
      [400, 403, 413, 415, 500],
      [400, 403, 500],
    ]);
  });

  it('refuses a table whose params do not match the path template', () => {
    const hooks = QUIET_HOOKS;
    const [, get] = ROUTES as [Route<Deps>, Route<Deps>];
    expect(
      () =>
        new Router(
          [{ ...get, params: undefined }],
          { gate: Promise.resolve() },
          { hosts: LOOPBACK_HOSTS, bodyLimitBytes: 1, hooks },
        ),
    ).toThrow('GET /things/{id}: params must declare exactly id');
    expect(
      () =>
        new Router(
          [get, get],
          { gate: Promise.resolve() },
          { hosts: LOOPBACK_HOSTS, bodyLimitBytes: 1, hooks },
        ),
    ).toThrow('is in the table twice');
  });
});

describe('requests in flight', () => {
  it('counts a request from arrival to answer, and closes its connection while draining', async () => {
    let release!: () => void;
    const gated = new Router(
      ROUTES,
      { gate: new Promise<void>((r) => (release = r)) },
      {
        hosts: LOOPBACK_HOSTS,
        bodyLimitBytes: 64,
        hooks: QUIET_HOOKS,
      },
    );
    const s = createServer(gated.listener);
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}/things/x`;
      const pending = fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      const count = () => gated.inFlight().find((f) => f.method === 'POST')?.count;
      for (let i = 0; i < 100 && count() !== 1; i++) await new Promise((r) => setTimeout(r, 10));
      expect(count()).toBe(1);
      gated.draining = true;
      release();
      const res = await pending;
      expect(res.headers.get('connection')).toBe('close');
      expect(count()).toBe(0);
    } finally {
      await new Promise((resolve) => s.close(resolve));
    }
  });
});
