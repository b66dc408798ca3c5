import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateCertificates } from './generate.js';

const USAGE = 'usage: kaos-memory certs --out DIR [--dns NAME]... [--ip ADDR]... [--days N]';
const DEFAULT_DAYS = 365;
const DAY_MS = 24 * 60 * 60 * 1000;

/** `kaos-memory certs`: write ca.crt, tls.crt and tls.key for a webhook run outside a cluster. */
export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      dns: { type: 'string', multiple: true },
      ip: { type: 'string', multiple: true },
      days: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!values.out) throw new Error(`certs: --out is required\n${USAGE}`);
  const days = values.days === undefined ? DEFAULT_DAYS : Number(values.days);
  if (!Number.isInteger(days) || days < 1)
    throw new Error('certs: --days must be a whole number ≥ 1');

  const bundle = generateCertificates({
    dns: values.dns ?? [],
    ips: values.ip ?? [],
    validityMs: days * DAY_MS,
  });
  await mkdir(values.out, { recursive: true });
  await writeFile(join(values.out, 'ca.crt'), bundle.caCert);
  await writeFile(join(values.out, 'tls.crt'), bundle.tlsCert);
  await writeFile(join(values.out, 'tls.key'), bundle.tlsKey, { mode: 0o600 });
  process.stdout.write(`wrote ca.crt, tls.crt, tls.key to ${values.out}\n`);
}
