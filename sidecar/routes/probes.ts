// Probes and scrapes: the process is up, Redis takes writes, Prometheus text.
import { StoreError } from '../../memory/errors.js';
import { notReady } from '../errors.js';
import { fields, route, STRING } from './shapes.js';

/** The process is up; a write would succeed: what kubelet asks (also on the health listener). */
export const HEALTH_ROUTES = [
  route({
    name: 'health',
    method: 'GET',
    path: '/healthz',
    summary: 'The process is up',
    quiet: true,
    responses: { 200: { description: 'up', schema: fields({ status: { const: 'ok' } }) } },
    handle: () => ({ status: 200, body: { status: 'ok' } }),
  }),

  route({
    name: 'ready',
    method: 'GET',
    path: '/readyz',
    summary:
      'A write would succeed on the Redis in use (each primary accepts writes; enough replicas in sync)',
    quiet: true,
    responses: { 200: { description: 'ready', schema: fields({ status: { const: 'ready' } }) } },
    errors: [503],
    handle: async (_, { store }) => {
      // Any Redis failure means "not ready": a 503, with the failure's own code.
      await store.ready().catch((err: unknown) => {
        throw err instanceof StoreError ? notReady(err) : err;
      });
      return { status: 200, body: { status: 'ready' } };
    },
  }),
];

export const PROBE_ROUTES = [
  ...HEALTH_ROUTES,
  route({
    name: 'metrics',
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics',
    quiet: true,
    responses: {
      200: { description: 'Prometheus text format', mediaType: 'text/plain', schema: STRING },
    },
    handle: async (_, deps) => {
      const m = await deps.metrics();
      return { status: 200, text: m.text, headers: { 'content-type': m.contentType } };
    },
  }),
];
