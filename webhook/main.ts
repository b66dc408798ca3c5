export function run(_argv: string[]): Promise<void> {
  return Promise.reject(new Error('webhook: not built yet'));
}
