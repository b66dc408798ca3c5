// What a Kubernetes API call's failure says, read from client-node's own ApiException
// (its `code` is the HTTP status, its `body` the API server's Status, as text or parsed)
// instead of duck typing. Anything else (a socket error, a timeout) has no status.
import { ApiException } from '@kubernetes/client-node';

/** The HTTP status of a failed API call, or undefined when the API server never answered. */
export function kubeStatus(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/** The API server's own message (its Status's `message`), when it gave one. */
export function kubeMessage(err: unknown): string | undefined {
  if (!(err instanceof ApiException)) return undefined;
  let body: unknown = err.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const message = (body as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' && message !== '' ? message : undefined;
}

/**
 * A failed API call in one line: its status and the API server's message, never the
 * body we sent (which may hold a Secret); any other error's own message.
 */
export function describeKubeError(err: unknown): string {
  const status = kubeStatus(err);
  if (status !== undefined) {
    const message = kubeMessage(err);
    return message ? `${status} ${message}` : String(status);
  }
  return err instanceof Error ? err.message : String(err);
}
