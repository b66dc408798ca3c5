// The no-op control server (noop-server.ts) in its own process.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Resolves once the server listens on `port`. */
export async function startNoopServer(port: number): Promise<{ stop(): Promise<void> }> {
  const script = fileURLToPath(new URL('./noop-server.ts', import.meta.url));
  const proc = spawn(process.execPath, ['--import', 'tsx', script, String(port)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    proc.once('message', () => resolve());
    proc.once('exit', (code) => reject(new Error(`no-op server exited with ${code}`)));
  });
  return {
    stop: async () => {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
