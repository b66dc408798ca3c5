import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { describeKubeError, kubeMessage, kubeStatus } from './kube-errors.js';

// Bodies as client-node hands them over: the raw text of an unlisted status, or parsed.
const status = (message: string) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code: 409 });

describe('Kubernetes client errors', () => {
  it("reads the status and the API server's message from an ApiException", () => {
    const conflict = new ApiException(
      409,
      'Unknown API Status Code!',
      status('already exists'),
      {},
    );
    expect(kubeStatus(conflict)).toBe(409);
    expect(kubeMessage(conflict)).toBe('already exists');
    expect(describeKubeError(conflict)).toBe('409 already exists');
    const parsed = new ApiException(403, 'Forbidden', { message: 'cannot get secrets' }, {});
    expect(describeKubeError(parsed)).toBe('403 cannot get secrets');
  });

  it('says only the status when the body is not a Status, and never repeats the body', () => {
    const unauthorized = new ApiException(401, 'Unauthorized', undefined, {});
    expect(describeKubeError(unauthorized)).toBe('401');
    const html = new ApiException(502, 'Unknown API Status Code!', '<html>bad gateway', {});
    expect(describeKubeError(html)).toBe('502');
  });

  it('gives no status for errors that are not API answers', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 111 });
    expect(kubeStatus(refused)).toBeUndefined();
    expect(describeKubeError(refused)).toBe('connect ECONNREFUSED');
    expect(describeKubeError('text')).toBe('text');
  });
});
