export function run(_argv: string[]): Promise<void> {
  return Promise.reject(new Error('certs: not built yet'));
}
