import { VersionApi, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../lib/logger.js';

/** Native sidecars (init containers with restartPolicy Always) are on by default from 1.29. */
const NATIVE_SIDECARS_SINCE = { major: 1, minor: 29 };
/** How long to wait for /version before falling back to an ordinary container. */
const VERSION_TIMEOUT_MS = 10_000;

export function supportsNativeSidecars(major: string, minor: string): boolean {
  const ma = parseInt(major, 10);
  const mi = parseInt(minor, 10); // Managed clusters report minors such as "29+".
  if (Number.isNaN(ma) || Number.isNaN(mi)) return false;
  const since = NATIVE_SIDECARS_SINCE;
  return ma > since.major || (ma === since.major && mi >= since.minor);
}

/** Ask the API server's /version once; when it can't be reached, fall back to an ordinary container. */
export async function detectNativeSidecar(
  kubeConfig: KubeConfig,
  logger: Logger,
  timeoutMs = VERSION_TIMEOUT_MS,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const version = await Promise.race([
      kubeConfig.makeApiClient(VersionApi).getCode(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    const native = supportsNativeSidecars(version.major, version.minor);
    logger.info({ version: version.gitVersion, native }, 'detected the API server version');
    return native;
  } catch (err) {
    logger.warn(
      { err },
      'API server version unknown; injecting the sidecar as an ordinary container',
    );
    return false;
  } finally {
    clearTimeout(timer);
  }
}
